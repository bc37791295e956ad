//! CORS: per-bucket rules (PutBucketCors XML) or a server-wide default, preflight
//! answers, and the `Access-Control-*` headers of actual responses.

use serde::{Deserialize, Serialize};

use super::dto;
use super::error::{S3Code, S3Error, S3Result};

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const MAX_RULES: usize = 100;

/// One rule, in S3's XML element names (the same names are used in the stored JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CorsRule {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "AllowedOrigin")]
    pub allowed_origins: Vec<String>,
    #[serde(rename = "AllowedMethod")]
    pub allowed_methods: Vec<String>,
    #[serde(rename = "AllowedHeader")]
    pub allowed_headers: Vec<String>,
    #[serde(rename = "ExposeHeader")]
    pub expose_headers: Vec<String>,
    #[serde(rename = "MaxAgeSeconds")]
    pub max_age_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CorsConfig {
    #[serde(rename = "CORSRule", default)]
    pub rules: Vec<CorsRule>,
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == origin,
        Some((head, tail)) => {
            origin.len() >= head.len() + tail.len()
                && origin.starts_with(head)
                && origin.ends_with(tail)
        }
    }
}

fn header_allowed(patterns: &[String], header: &str) -> bool {
    patterns
        .iter()
        .any(|p| origin_matches(&p.to_ascii_lowercase(), &header.to_ascii_lowercase()))
}

impl CorsConfig {
    /// Parses and validates a PutBucketCors body.
    pub fn from_xml(body: &[u8]) -> S3Result<CorsConfig> {
        let config: CorsConfig = super::xml::parse_document(body, "CORSConfiguration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> S3Result<()> {
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(S3Error::new(S3Code::MalformedXML));
        }
        for rule in &self.rules {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(S3Error::new(S3Code::MalformedXML));
            }
            if let Some(m) = rule
                .allowed_methods
                .iter()
                .find(|m| !METHODS.contains(&m.as_str()))
            {
                return Err(S3Error::msg(
                    S3Code::InvalidRequest,
                    format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                    ),
                ));
            }
            if let Some(o) = rule
                .allowed_origins
                .iter()
                .find(|o| o.matches('*').count() > 1)
            {
                return Err(S3Error::msg(
                    S3Code::InvalidRequest,
                    format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
                ));
            }
            if let Some(h) = rule
                .allowed_headers
                .iter()
                .find(|h| h.matches('*').count() > 1)
            {
                return Err(S3Error::msg(
                    S3Code::InvalidRequest,
                    format!("AllowedHeader \"{h}\" can not have more than one wildcard."),
                ));
            }
        }
        Ok(())
    }

    /// The configuration as GetBucketCors answers it.
    pub fn to_dto(&self) -> dto::CorsConfiguration {
        let texts = |list: &[String]| list.iter().map(|s| dto::Text::from(s.as_str())).collect();
        let rules = self
            .rules
            .iter()
            .map(|rule| dto::CorsRule {
                id: rule.id.as_deref().map(Into::into),
                allowed_origins: texts(&rule.allowed_origins),
                allowed_methods: texts(&rule.allowed_methods),
                allowed_headers: texts(&rule.allowed_headers),
                expose_headers: texts(&rule.expose_headers),
                max_age_seconds: rule.max_age_seconds,
            })
            .collect();
        dto::CorsConfiguration {
            xmlns: dto::NS,
            rules,
        }
    }

    /// The first rule allowing `origin` to use `method` with `headers`.
    pub fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.allowed_origins.iter().any(|o| origin_matches(o, origin))
                && r.allowed_methods.iter().any(|m| m == method)
                && headers
                    .iter()
                    .all(|h| header_allowed(&r.allowed_headers, h))
        })
    }
}

/// The `Access-Control-*` headers for a matched rule.
pub fn response_headers(
    rule: &CorsRule,
    origin: &str,
    preflight: Option<&[String]>,
) -> Vec<(&'static str, String)> {
    let wildcard = rule.allowed_origins.iter().any(|o| o == "*");
    let mut out = vec![(
        "access-control-allow-origin",
        if wildcard {
            "*".to_string()
        } else {
            origin.to_string()
        },
    )];
    if !wildcard {
        out.push(("access-control-allow-credentials", "true".to_string()));
    }
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
    ));
    if !rule.expose_headers.is_empty() {
        out.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(requested) = preflight {
        out.push((
            "access-control-allow-methods",
            rule.allowed_methods.join(", "),
        ));
        if !requested.is_empty() {
            out.push(("access-control-allow-headers", requested.join(", ")));
        }
        if let Some(age) = rule.max_age_seconds {
            out.push(("access-control-max-age", age.to_string()));
        }
    }
    out
}

/// `Access-Control-Request-Headers: a, b` as a list.
pub fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_matches_and_validates() {
        let xml = br#"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>300</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"#;
        let c = CorsConfig::from_xml(xml).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert!(
            c.find("https://app.example.com", "PUT", &["content-type".into()])
                .is_some()
        );
        assert!(c.find("https://evil.com", "PUT", &[]).is_none());
        assert_eq!(
            c.find("https://evil.com", "GET", &[])
                .unwrap()
                .allowed_origins,
            ["*"]
        );
        assert!(
            c.find("https://evil.com", "GET", &["x-custom".into()])
                .is_none()
        );
        assert_eq!(
            CorsConfig::from_xml(&dto::to_xml(&c.to_dto()).into_bytes()).unwrap(),
            c
        );
        let bad = br#"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>"#;
        assert_eq!(
            CorsConfig::from_xml(bad).unwrap_err().code,
            S3Code::InvalidRequest
        );
        assert_eq!(
            CorsConfig::from_xml(b"<CORSConfiguration/>")
                .unwrap_err()
                .code,
            S3Code::MalformedXML
        );
    }
}
