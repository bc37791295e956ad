//! Access control lists as S3 defines them: an owner and grants of READ, WRITE,
//! READ_ACP, WRITE_ACP or FULL_CONTROL to canonical users and to the AllUsers,
//! AuthenticatedUsers and LogDelivery groups. Built from a canned ACL, from the
//! `x-amz-grant-*` headers or from an `AccessControlPolicy` document; kept by storage
//! as plain strings ([`StoredAcl`]).

use http::HeaderMap;

use super::error::{S3Code, S3Error, S3Result};
use super::headers::header;
use crate::storage::interface::{StoredAcl, StoredGrant};

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// The canonical id AWS gives what anonymous callers write (into a bucket whose ACL
/// lets everyone write).
pub const ANONYMOUS_ID: &str = "65a011a29cdf8ec533ec3d1ccaae921c";

/// AWS's limit on grants in one ACL.
const MAX_GRANTS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// A canonical user id.
    User(String),
    /// A group URI (AllUsers, AuthenticatedUsers, LogDelivery).
    Group(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether holding `self` allows what `needed` allows.
    fn covers(self, needed: Permission) -> bool {
        self == Permission::FullControl || self == needed
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// Who is asking, as an ACL sees them.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    Anonymous,
    User(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// Whether an ACL is being set on a bucket or on an object (some canned ACLs differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Bucket,
    /// An object in a bucket owned by this id.
    Object {
        bucket_owner: &'a str,
    },
}

impl Acl {
    /// The default: the owner has full control, nobody else anything.
    pub fn private(owner: &str) -> Acl {
        Acl {
            owner: owner.to_string(),
            grants: vec![user_grant(owner, Permission::FullControl)],
        }
    }

    /// A canned ACL (`x-amz-acl`), as AWS expands it.
    pub fn canned(name: &str, owner: &str, target: Target) -> S3Result<Acl> {
        let mut acl = Acl::private(owner);
        let group = |uri: &str, permission| Grant {
            grantee: Grantee::Group(uri.to_string()),
            permission,
        };
        let bucket_owner = match target {
            Target::Object { bucket_owner } if bucket_owner != owner => Some(bucket_owner),
            _ => None,
        };
        match name {
            "private" | "aws-exec-read" => {}
            "public-read" => acl.grants.push(group(ALL_USERS, Permission::Read)),
            "public-read-write" => {
                acl.grants.push(group(ALL_USERS, Permission::Read));
                acl.grants.push(group(ALL_USERS, Permission::Write));
            }
            "authenticated-read" => acl
                .grants
                .push(group(AUTHENTICATED_USERS, Permission::Read)),
            "log-delivery-write" => {
                acl.grants.push(group(LOG_DELIVERY, Permission::Write));
                acl.grants.push(group(LOG_DELIVERY, Permission::ReadAcp));
            }
            // On a bucket (or an object of the bucket's owner) these are `private`.
            "bucket-owner-read" => acl
                .grants
                .extend(bucket_owner.map(|id| user_grant(id, Permission::Read))),
            "bucket-owner-full-control" => acl
                .grants
                .extend(bucket_owner.map(|id| user_grant(id, Permission::FullControl))),
            _ => {
                return Err(S3Error::msg(S3Code::InvalidArgument, "")
                    .detail("ArgumentName", "x-amz-acl")
                    .detail("ArgumentValue", name));
            }
        }
        Ok(acl)
    }

    /// The ACL a request's headers ask for: `x-amz-acl`, or `x-amz-grant-*` (never
    /// both), or None when it names none. `known` tells whether a canonical id is a user
    /// of this server.
    pub fn from_headers(
        headers: &HeaderMap,
        owner: &str,
        target: Target,
        known: &dyn Fn(&str) -> bool,
    ) -> S3Result<Option<Acl>> {
        let canned = header(headers, "x-amz-acl").map(str::trim);
        let grant_headers: Vec<(Permission, &str)> = GRANT_HEADERS
            .iter()
            .filter_map(|(name, p)| header(headers, name).map(|v| (*p, v)))
            .collect();
        match (canned, grant_headers.is_empty()) {
            (None, true) => Ok(None),
            (Some(_), false) => Err(S3Error::msg(
                S3Code::InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed",
            )),
            (Some(name), true) => Acl::canned(name, owner, target).map(Some),
            (None, false) => {
                let mut grants = Vec::new();
                for (permission, value) in grant_headers {
                    for grantee in parse_grantees(value, known)? {
                        grants.push(Grant {
                            grantee,
                            permission,
                        });
                    }
                }
                Acl::with_grants(owner, grants).map(Some)
            }
        }
    }

    /// An ACL of explicit grants, at most AWS's 100.
    fn with_grants(owner: &str, grants: Vec<Grant>) -> S3Result<Acl> {
        if grants.len() > MAX_GRANTS {
            return Err(S3Error::msg(
                S3Code::MalformedACLError,
                format!("An ACL can have at most {MAX_GRANTS} grants."),
            ));
        }
        Ok(Acl {
            owner: owner.to_string(),
            grants,
        })
    }

    /// The ACL of a PutBucketAcl / PutObjectAcl body, for a resource `owner` owns (an
    /// ACL cannot change the owner); `known` as for [`Acl::from_headers`].
    pub fn from_document(body: &[u8], owner: &str, known: &dyn Fn(&str) -> bool) -> S3Result<Acl> {
        let doc = super::xml::parse_access_control_policy(body)?;
        let malformed = || S3Error::new(S3Code::MalformedACLError);
        // The owner cannot be changed through an ACL.
        let named = doc.owner.and_then(|o| o.id).ok_or_else(malformed)?;
        if named.trim() != owner {
            return Err(S3Error::new(S3Code::AccessDenied));
        }
        let mut grants = Vec::new();
        for grant in doc.list.unwrap_or_default().grants {
            let permission = grant
                .permission
                .as_deref()
                .and_then(|p| Permission::parse(p.trim()))
                .ok_or_else(malformed)?;
            let grantee = grant.grantee.ok_or_else(malformed)?;
            let grantee = match (grantee.id, grantee.uri, grantee.email) {
                (Some(id), None, None) if known(id.trim()) => Grantee::User(id.trim().to_string()),
                (Some(_), None, None) => return Err(invalid_id()),
                (None, Some(uri), None) if known_group(uri.trim()) => {
                    Grantee::Group(uri.trim().to_string())
                }
                (None, Some(_), None) => return Err(invalid_group()),
                (None, None, Some(email)) => return Err(unresolvable_email(&email)),
                _ => return Err(malformed()),
            };
            grants.push(Grant {
                grantee,
                permission,
            });
        }
        Acl::with_grants(owner, grants)
    }

    /// Whether the ACL gives `requester` the `needed` permission; grants to the public
    /// groups count unless `ignore_public` (Block Public Access's IgnorePublicAcls).
    pub fn allows(&self, requester: Requester, needed: Permission, ignore_public: bool) -> bool {
        self.grants.iter().any(|g| {
            g.permission.covers(needed)
                && match (&g.grantee, requester) {
                    (Grantee::User(id), Requester::User(who)) => id == who,
                    (Grantee::Group(uri), _) if ignore_public && is_public_group(uri) => false,
                    (Grantee::Group(uri), _) if uri == ALL_USERS => true,
                    (Grantee::Group(uri), Requester::User(_)) => uri == AUTHENTICATED_USERS,
                    _ => false,
                }
        })
    }

    /// Whether it grants anything to everyone or to every signed caller.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(&g.grantee, Grantee::Group(uri) if is_public_group(uri)))
    }

    pub fn to_stored(&self) -> StoredAcl {
        StoredAcl {
            owner: self.owner.clone(),
            grants: self
                .grants
                .iter()
                .map(|g| StoredGrant {
                    grantee: match &g.grantee {
                        Grantee::User(id) => format!("id:{id}"),
                        Grantee::Group(uri) => format!("uri:{uri}"),
                    },
                    permission: g.permission.as_str().to_string(),
                })
                .collect(),
        }
    }

    /// Reads a stored ACL; grants it cannot read are dropped (never widened).
    pub fn from_stored(stored: &StoredAcl) -> Acl {
        let grants = stored
            .grants
            .iter()
            .filter_map(|g| {
                let permission = Permission::parse(&g.permission)?;
                let grantee = match g.grantee.split_once(':')? {
                    ("id", id) => Grantee::User(id.to_string()),
                    ("uri", uri) => Grantee::Group(uri.to_string()),
                    _ => return None,
                };
                Some(Grant {
                    grantee,
                    permission,
                })
            })
            .collect();
        Acl {
            owner: stored.owner.clone(),
            grants,
        }
    }
}

fn is_public_group(uri: &str) -> bool {
    uri == ALL_USERS || uri == AUTHENTICATED_USERS
}

fn user_grant(id: &str, permission: Permission) -> Grant {
    Grant {
        grantee: Grantee::User(id.to_string()),
        permission,
    }
}

const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// A group URI AWS knows.
pub fn known_group(uri: &str) -> bool {
    matches!(uri, ALL_USERS | AUTHENTICATED_USERS | LOG_DELIVERY)
}

pub fn invalid_id() -> S3Error {
    S3Error::msg(S3Code::InvalidArgument, "Invalid id").detail("ArgumentName", "CanonicalUser/ID")
}

pub fn invalid_group() -> S3Error {
    S3Error::msg(S3Code::InvalidArgument, "Invalid group uri").detail("ArgumentName", "Group/URI")
}

pub fn unresolvable_email(email: &str) -> S3Error {
    S3Error::new(S3Code::UnresolvableGrantByEmailAddress).detail("EmailAddress", email)
}

/// `id="…", uri="…", emailAddress="…"`, comma-separated (quotes optional).
fn parse_grantees(value: &str, known: &dyn Fn(&str) -> bool) -> S3Result<Vec<Grantee>> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let invalid = || {
            S3Error::msg(S3Code::InvalidArgument, "Argument format not recognized")
                .detail("ArgumentName", "x-amz-grant")
                .detail("ArgumentValue", item)
        };
        let (kind, raw) = item.split_once('=').ok_or_else(invalid)?;
        let text = raw.trim().trim_matches('"');
        match kind.trim().to_ascii_lowercase().as_str() {
            "id" if known(text) => out.push(Grantee::User(text.to_string())),
            "id" => return Err(invalid_id()),
            "uri" if known_group(text) => out.push(Grantee::Group(text.to_string())),
            "uri" => return Err(invalid_group()),
            "emailaddress" => return Err(unresolvable_email(text)),
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_target() -> Target<'static> {
        Target::Bucket
    }

    #[test]
    fn canned_acls_expand_as_aws_documents() {
        let public = Acl::canned("public-read", "o", bucket_target()).unwrap();
        assert!(public.allows(Requester::Anonymous, Permission::Read, false));
        assert!(!public.allows(Requester::Anonymous, Permission::Write, false));
        assert!(!public.allows(Requester::Anonymous, Permission::Read, true));
        let rw = Acl::canned("public-read-write", "o", bucket_target()).unwrap();
        assert!(rw.allows(Requester::User("x"), Permission::Write, false));
        let auth = Acl::canned("authenticated-read", "o", bucket_target()).unwrap();
        assert!(auth.allows(Requester::User("x"), Permission::Read, false));
        assert!(!auth.allows(Requester::Anonymous, Permission::Read, false));
        let object = Target::Object { bucket_owner: "b" };
        let bofc = Acl::canned("bucket-owner-full-control", "w", object).unwrap();
        assert!(bofc.allows(Requester::User("b"), Permission::WriteAcp, false));
        let bor = Acl::canned("bucket-owner-read", "w", object).unwrap();
        assert!(bor.allows(Requester::User("b"), Permission::Read, false));
        assert!(!bor.allows(Requester::User("b"), Permission::ReadAcp, false));
        assert!(bor.allows(Requester::User("w"), Permission::WriteAcp, false));
        let err = Acl::canned("public", "o", bucket_target()).unwrap_err();
        assert_eq!(err.code, S3Code::InvalidArgument);
    }

    #[test]
    fn grant_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-grant-read",
            r#"uri="http://acs.amazonaws.com/groups/global/AllUsers", id="u1""#
                .parse()
                .unwrap(),
        );
        h.insert("x-amz-grant-write-acp", "id=u2".parse().unwrap());
        let known = |id: &str| id.starts_with('u');
        let acl = Acl::from_headers(&h, "o", Target::Bucket, &known)
            .unwrap()
            .unwrap();
        assert_eq!(acl.grants.len(), 3);
        assert!(acl.allows(Requester::User("u2"), Permission::WriteAcp, false));
        assert!(!acl.allows(Requester::User("o"), Permission::Write, false));
        assert!(!acl.allows(Requester::Anonymous, Permission::Read, true));
        h.insert("x-amz-acl", "private".parse().unwrap());
        let both = Acl::from_headers(&h, "o", Target::Bucket, &known).unwrap_err();
        assert_eq!(both.code, S3Code::InvalidRequest);
        let mut h = HeaderMap::new();
        h.insert("x-amz-grant-read", "emailAddress=a@b.c".parse().unwrap());
        let email = Acl::from_headers(&h, "o", Target::Bucket, &known).unwrap_err();
        assert_eq!(email.code, S3Code::UnresolvableGrantByEmailAddress);
        h.insert("x-amz-grant-read", "id=stranger".parse().unwrap());
        let unknown = Acl::from_headers(&h, "o", Target::Bucket, &known).unwrap_err();
        assert_eq!(unknown.code, S3Code::InvalidArgument);
    }

    #[test]
    fn stored_form_round_trips_and_never_widens() {
        let acl = Acl::canned("public-read-write", "o", Target::Bucket).unwrap();
        assert_eq!(Acl::from_stored(&acl.to_stored()), acl);
        let mut stored = acl.to_stored();
        stored.grants[1].permission = "EVERYTHING".into();
        assert_eq!(Acl::from_stored(&stored).grants.len(), 2);
    }
}
