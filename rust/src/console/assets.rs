//! The console's files, compiled into the binary: a fixed list, so no request path ever
//! reaches the file system.

/// Name (under `/_console/`), content type, bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../console/", $name)),
        }
    };
}

const ASSETS: [Asset; 4] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("aws4fetch.esm.js", "text/javascript; charset=utf-8"),
];

/// For working on the console: `SMARTSTORAGE_CONSOLE_ASSETS=<folder>` serves the same
/// names from that folder instead, read at each request, so a page reload shows an edit.
const DEV_FOLDER_ENV: &str = "SMARTSTORAGE_CONSOLE_ASSETS";

/// The files the console serves.
pub struct Assets {
    dev_folder: Option<std::path::PathBuf>,
}

impl Assets {
    /// The compiled-in files (or the development folder's).
    pub fn load() -> Assets {
        Assets {
            dev_folder: std::env::var_os(DEV_FOLDER_ENV).map(Into::into),
        }
    }

    /// The content type and bytes of `name` (`""` is the page), if it is one of the files.
    pub fn get(&self, name: &str) -> Option<(&'static str, std::borrow::Cow<'static, [u8]>)> {
        let name = if name.is_empty() { "index.html" } else { name };
        let asset = ASSETS.iter().find(|a| a.name == name)?;
        let bytes = match &self.dev_folder {
            Some(folder) => std::fs::read(folder.join(asset.name)).ok()?.into(),
            None => asset.bytes.into(),
        };
        Some((asset.content_type, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The budget: the whole console under 200 KB.
    #[test]
    fn the_console_is_small() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 200 * 1024, "console assets are {total} bytes");
    }

    #[test]
    fn only_listed_names_are_served() {
        let assets = Assets { dev_folder: None };
        assert!(assets.get("").is_some());
        assert!(assets.get("app.js").is_some());
        for name in [
            "../Cargo.toml",
            "app.js/",
            "APP.JS",
            "%2e%2e/Cargo.toml",
            "index",
        ] {
            assert!(assets.get(name).is_none(), "{name}");
        }
    }
}
