//! Whether a request may do what it asks: the one decision that combines who owns
//! the bucket and the object, the bucket policy, the ACLs, Object Ownership and
//! Block Public Access, in AWS's order (an explicit Deny wins, then any Allow, else
//! the request is denied).

use serde::{Deserialize, Serialize};

use super::acl::{Acl, Permission, Requester};
use super::error::{S3Code, S3Error, S3Result};
use super::policy::Effect;

/// Object Ownership (`PutBucketOwnershipControls`): who owns what others write, and
/// whether ACLs count at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// A writer's object belongs to the bucket owner when written with
    /// `bucket-owner-full-control`; otherwise to the writer.
    BucketOwnerPreferred,
    /// A writer owns what it writes (buckets without ownership controls behave so).
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn parse(text: &str) -> Option<ObjectOwnership> {
        match text {
            "BucketOwnerEnforced" => Some(ObjectOwnership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(ObjectOwnership::BucketOwnerPreferred),
            "ObjectWriter" => Some(ObjectOwnership::ObjectWriter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }
}

/// Block Public Access for one bucket; all false when none is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlock {
    #[serde(default)]
    pub block_public_acls: bool,
    #[serde(default)]
    pub ignore_public_acls: bool,
    #[serde(default)]
    pub block_public_policy: bool,
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

/// A bucket's owner and access settings, as the decision needs them.
#[derive(Debug, Clone)]
pub struct BucketAccess {
    pub acl: Acl,
    pub ownership: Option<ObjectOwnership>,
    pub block: PublicAccessBlock,
    /// Whether the bucket has a public access block of its own (else `block` is all off).
    pub block_set: bool,
}

impl BucketAccess {
    pub fn owner(&self) -> &str {
        &self.acl.owner
    }

    pub fn acls_enabled(&self) -> bool {
        self.ownership != Some(ObjectOwnership::BucketOwnerEnforced)
    }

    /// Refuses a request that sets an ACL where ACLs are disabled (only `private`,
    /// `bucket-owner-full-control` and the owner's own full control are accepted, as
    /// AWS does), and a public ACL where BlockPublicAcls is on.
    pub fn admit_acl(&self, acl: &Acl, canned: Option<&str>) -> S3Result<()> {
        if !self.acls_enabled() {
            let harmless = matches!(canned, Some("private" | "bucket-owner-full-control"))
                || (canned.is_none()
                    && acl.grants.len() == 1
                    && acl.allows(Requester::User(&acl.owner), Permission::FullControl, true)
                    && acl.owner == self.acl.owner);
            if !harmless {
                return Err(S3Error::new(S3Code::AccessControlListNotSupported));
            }
        }
        if self.block.block_public_acls && acl.is_public() {
            return Err(S3Error::new(S3Code::AccessDenied));
        }
        Ok(())
    }

    /// Who owns an object `writer` writes now, with the ACL it asked for (if any).
    pub fn object_owner(&self, writer: &str, canned: Option<&str>) -> String {
        match self.ownership {
            Some(ObjectOwnership::BucketOwnerEnforced) => self.acl.owner.clone(),
            Some(ObjectOwnership::BucketOwnerPreferred)
                if canned == Some("bucket-owner-full-control") =>
            {
                self.acl.owner.clone()
            }
            _ => writer.to_string(),
        }
    }
}

/// What one decision rests on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub requester: Requester<'a>,
    /// The requester's key is its account's root.
    pub root: bool,
    pub bucket_owner: &'a str,
    /// Who owns what the action acts on: the object's owner for reads and ACL changes
    /// of an existing object, else the bucket's owner.
    pub resource_owner: &'a str,
    /// The bucket policy's verdict, and whether that policy is public.
    pub policy: Option<Effect>,
    pub policy_public: bool,
    /// The ACL that may grant the action, and the permission it would need (None when
    /// ACLs are disabled or no ACL permission covers the action).
    pub acl: Option<(&'a Acl, Permission)>,
    pub block: PublicAccessBlock,
    /// The bucket owner's root may do this whatever the policy says (AWS never locks an
    /// account root out of its bucket's policy).
    pub owner_always: bool,
}

/// Allow (true) or deny (false).
pub fn decide(f: &Facts) -> bool {
    let is = |id: &str| matches!(f.requester, Requester::User(who) if who == id);
    let bucket_owner = is(f.bucket_owner);
    if f.policy == Some(Effect::Deny) && !(bucket_owner && f.root && f.owner_always) {
        return false;
    }
    if is(f.resource_owner) {
        return true;
    }
    // A bucket policy speaks for the bucket owner: it grants nothing on objects
    // others own, and a public one only to the owner's account under RestrictPublicBuckets.
    let restricted = f.policy_public && f.block.restrict_public_buckets;
    if f.policy == Some(Effect::Allow) && f.resource_owner == f.bucket_owner && !restricted {
        return true;
    }
    f.acl
        .is_some_and(|(acl, needed)| acl.allows(f.requester, needed, f.block.ignore_public_acls))
}

/// The ACL permission an IAM action needs, and whether it is on the object (else on
/// the bucket); None for actions no ACL grants (tagging, policies, ...).
pub fn acl_permission(action: &str) -> Option<(Permission, bool)> {
    let on_bucket = |p| Some((p, false));
    let on_object = |p| Some((p, true));
    match action {
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => {
            on_bucket(Permission::Read)
        }
        "s3:PutObject"
        | "s3:DeleteObject"
        | "s3:DeleteObjectVersion"
        | "s3:AbortMultipartUpload"
        | "s3:ListMultipartUploadParts" => on_bucket(Permission::Write),
        "s3:GetBucketAcl" => on_bucket(Permission::ReadAcp),
        "s3:PutBucketAcl" => on_bucket(Permission::WriteAcp),
        "s3:GetObject"
        | "s3:GetObjectVersion"
        | "s3:GetObjectAttributes"
        | "s3:GetObjectVersionAttributes" => on_object(Permission::Read),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => on_object(Permission::ReadAcp),
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => on_object(Permission::WriteAcp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::acl::Target;

    const OWNER: &str = "owner";
    const OTHER: &str = "other";

    fn facts<'a>(requester: Requester<'a>, acl: Option<(&'a Acl, Permission)>) -> Facts<'a> {
        Facts {
            requester,
            root: false,
            bucket_owner: OWNER,
            resource_owner: OWNER,
            policy: None,
            policy_public: false,
            acl,
            block: PublicAccessBlock::default(),
            owner_always: false,
        }
    }

    /// Every combination that matters, as a table: who asks, what the policy says,
    /// what the ACL grants, what Block Public Access ignores, and who owns the object.
    #[test]
    fn decision_table() {
        let private = Acl::private(OWNER);
        let public = Acl::canned("public-read", OWNER, Target::Bucket).unwrap();
        let foreign = Acl::private(OTHER);
        let anon = Requester::Anonymous;
        let owner = Requester::User(OWNER);
        let other = Requester::User(OTHER);
        let third = Requester::User("third");
        let read = Permission::Read;
        struct Row<'a> {
            why: &'a str,
            f: Facts<'a>,
            allowed: bool,
        }
        let base = facts;
        fn with<'a>(mut f: Facts<'a>, change: impl Fn(&mut Facts<'a>)) -> Facts<'a> {
            change(&mut f);
            f
        }
        let rows = [
            Row {
                why: "owner, no policy",
                f: base(owner, Some((&private, read))),
                allowed: true,
            },
            Row {
                why: "stranger, private ACL",
                f: base(other, Some((&private, read))),
                allowed: false,
            },
            Row {
                why: "anonymous, private ACL",
                f: base(anon, Some((&private, read))),
                allowed: false,
            },
            Row {
                why: "anonymous, public-read ACL",
                f: base(anon, Some((&public, read))),
                allowed: true,
            },
            Row {
                why: "public ACL ignored by IgnorePublicAcls",
                f: with(base(anon, Some((&public, read))), |f| {
                    f.block.ignore_public_acls = true
                }),
                allowed: false,
            },
            Row {
                why: "public-read does not grant WRITE",
                f: base(anon, Some((&public, Permission::Write))),
                allowed: false,
            },
            Row {
                why: "policy Allow for a stranger",
                f: with(base(other, None), |f| f.policy = Some(Effect::Allow)),
                allowed: true,
            },
            Row {
                why: "explicit Deny beats the owner",
                f: with(base(owner, None), |f| f.policy = Some(Effect::Deny)),
                allowed: false,
            },
            Row {
                why: "explicit Deny beats a public ACL",
                f: with(base(anon, Some((&public, read))), |f| {
                    f.policy = Some(Effect::Deny)
                }),
                allowed: false,
            },
            Row {
                why: "the owner's root keeps its policy actions under Deny",
                f: with(base(owner, None), |f| {
                    f.policy = Some(Effect::Deny);
                    f.root = true;
                    f.owner_always = true;
                }),
                allowed: true,
            },
            Row {
                why: "a non-root key of the owner does not",
                f: with(base(owner, None), |f| {
                    f.policy = Some(Effect::Deny);
                    f.owner_always = true;
                }),
                allowed: false,
            },
            Row {
                why: "a public policy under RestrictPublicBuckets grants strangers nothing",
                f: with(base(anon, None), |f| {
                    f.policy = Some(Effect::Allow);
                    f.policy_public = true;
                    f.block.restrict_public_buckets = true;
                }),
                allowed: false,
            },
            Row {
                why: "... but the owner keeps access",
                f: with(base(owner, None), |f| {
                    f.policy = Some(Effect::Allow);
                    f.policy_public = true;
                    f.block.restrict_public_buckets = true;
                }),
                allowed: true,
            },
            Row {
                why: "an object another account owns: the bucket owner needs its ACL",
                f: with(base(owner, Some((&foreign, read))), |f| {
                    f.resource_owner = OTHER
                }),
                allowed: false,
            },
            Row {
                why: "... its owner reads it",
                f: with(base(other, Some((&foreign, read))), |f| {
                    f.resource_owner = OTHER
                }),
                allowed: true,
            },
            Row {
                why: "the bucket policy does not speak for objects others own",
                f: with(base(third, Some((&foreign, read))), |f| {
                    f.resource_owner = OTHER;
                    f.policy = Some(Effect::Allow);
                }),
                allowed: false,
            },
            Row {
                why: "no policy, no ACL: denied",
                f: base(other, None),
                allowed: false,
            },
        ];
        for row in rows {
            assert_eq!(decide(&row.f), row.allowed, "{}", row.why);
        }
    }

    #[test]
    fn ownership_and_acl_admission() {
        let mut access = BucketAccess {
            acl: Acl::private(OWNER),
            ownership: Some(ObjectOwnership::BucketOwnerEnforced),
            block: PublicAccessBlock::default(),
            block_set: false,
        };
        let public = Acl::canned("public-read", OWNER, Target::Bucket).unwrap();
        let err = access.admit_acl(&public, Some("public-read")).unwrap_err();
        assert_eq!(err.code, S3Code::AccessControlListNotSupported);
        assert!(
            access
                .admit_acl(&Acl::private(OWNER), Some("private"))
                .is_ok()
        );
        assert_eq!(access.object_owner(OTHER, None), OWNER);
        access.ownership = Some(ObjectOwnership::BucketOwnerPreferred);
        assert_eq!(
            access.object_owner(OTHER, Some("bucket-owner-full-control")),
            OWNER
        );
        assert_eq!(access.object_owner(OTHER, Some("private")), OTHER);
        access.ownership = None;
        access.block.block_public_acls = true;
        let err = access.admit_acl(&public, Some("public-read")).unwrap_err();
        assert_eq!(err.code, S3Code::AccessDenied);
    }
}
