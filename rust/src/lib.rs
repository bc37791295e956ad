//! `ruststorage`: an S3-compatible object storage server, as a library.
//!
//! The binary (`src/main.rs`) is a thin command line over this crate:
//! `ruststorage serve ...` runs a standalone server (`engine::Engine`);
//! `ruststorage --management` speaks the NDJSON management protocol on
//! stdin/stdout (`management::run`, docs/protocol.md). Being a library also
//! lets the fuzz targets in `rust/fuzz/` call the engine's parsers directly.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod connection_guards;
pub mod console;
pub mod encryption;
pub mod engine;
pub mod file_bytes;
pub mod framed;
pub mod log;
pub mod management;
pub mod md5;
pub mod ops;
pub mod s3;
pub mod seed;
pub mod server;
pub mod storage;
pub mod tls;
