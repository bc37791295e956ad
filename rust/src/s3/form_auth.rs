//! Who signed a POST Object form: the base64 policy signed with SigV4 (`x-amz-algorithm`,
//! `x-amz-credential`, `x-amz-date`, `x-amz-signature`) or, where allowed, SigV2
//! (`AWSAccessKeyId`, `signature`). A form with neither a policy nor a signature is
//! anonymous.

use super::Ctx;
use super::auth::{Authenticated, Payload, secret_for};
use super::error::{S3Code, S3Error, S3Result};
use super::post_policy::Fields;
use super::{sigv2, sigv4};

/// AWS's answer to a form missing a field it needs.
pub fn missing_field(name: &str) -> S3Error {
    S3Error::invalid_argument(
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ),
        name,
        "",
    )
}

fn signature_mismatch() -> S3Error {
    S3Error::new(S3Code::SignatureDoesNotMatch)
}

pub fn authenticate(ctx: &Ctx, fields: &Fields) -> S3Result<Authenticated> {
    let v4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"]
        .iter()
        .any(|f| fields.get(f).is_some());
    let v2 = ["awsaccesskeyid", "signature"]
        .iter()
        .any(|f| fields.get(f).is_some());
    let Some(policy) = fields.get("policy") else {
        return if v4 || v2 {
            Err(missing_field("policy"))
        } else {
            Ok(Authenticated::anonymous())
        };
    };
    if v4 {
        return v4_form(ctx, fields, policy);
    }
    if !ctx.sig_v2 {
        return Err(if v2 {
            S3Error::msg(
                S3Code::InvalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
            )
        } else {
            missing_field("x-amz-credential")
        });
    }
    let access_key = fields
        .get("awsaccesskeyid")
        .ok_or_else(|| missing_field("AWSAccessKeyId"))?;
    let signature = fields
        .get("signature")
        .ok_or_else(|| missing_field("signature"))?;
    let secret = secret_for(&ctx.credentials, access_key)?;
    if !sigv4::signatures_equal(&sigv2::sign(&secret, policy), signature) {
        return Err(signature_mismatch());
    }
    Ok(signed(access_key, "AWS"))
}

fn signed(access_key: &str, signature_version: &'static str) -> Authenticated {
    Authenticated {
        access_key: Some(access_key.to_string()),
        payload: Payload::Unchecked,
        signature_version,
    }
}

/// The signature is the HMAC of the base64 policy under the SigV4 signing key of the
/// credential's scope (`<key>/<date>/<region>/s3/aws4_request`).
fn v4_form(ctx: &Ctx, fields: &Fields, policy: &str) -> S3Result<Authenticated> {
    let field = |name: &'static str| fields.get(name).ok_or_else(|| missing_field(name));
    let algorithm = field("x-amz-algorithm")?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(S3Error::invalid_argument(
            "Only AWS4-HMAC-SHA256 is supported for x-amz-algorithm.",
            "x-amz-algorithm",
            algorithm,
        ));
    }
    let credential = field("x-amz-credential")?;
    let signature = field("x-amz-signature")?;
    field("x-amz-date")?;
    let bad_credential = |why: String| {
        S3Error::invalid_argument(
            format!("Error parsing the X-Amz-Credential parameter; {why}"),
            "x-amz-credential",
            credential,
        )
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminal] = parts[..] else {
        return Err(bad_credential("the Credential is mal-formed".into()));
    };
    if service != "s3" || terminal != "aws4_request" {
        return Err(bad_credential(format!(
            "incorrect service or terminator '{service}/{terminal}'"
        )));
    }
    if region != ctx.region {
        return Err(bad_credential(format!(
            "the region '{region}' is wrong; expecting '{}'",
            ctx.region
        ))
        .detail("Region", ctx.region.clone()));
    }
    let secret = secret_for(&ctx.credentials, access_key)?;
    let key = sigv4::signing_key(&secret, date, region, service);
    if !sigv4::signatures_equal(&sigv4::sign(&key, policy), signature) {
        return Err(signature_mismatch());
    }
    Ok(signed(access_key, "AWS4-HMAC-SHA256"))
}
