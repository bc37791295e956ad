//! The checksum a CopyObject gives its copy. The source's is kept when it covers the
//! whole object in the algorithm wanted; otherwise (a composite multipart checksum,
//! another algorithm named in `x-amz-checksum-algorithm`, or none stored, which gets
//! CRC64NVME as on AWS) it is computed over the source's bytes before the copy, and the
//! copy takes it only if the source it copies is still the one hashed.

use futures_util::StreamExt;

use crate::s3::Ctx;
use crate::s3::checksum::{Algorithm, ChecksumType, Hasher};
use crate::s3::error::{S3Error, S3Result};
use crate::storage::Error;
use crate::storage::interface::{CopySource, CustomerKey, ObjectMeta, StoredChecksum};

/// What the copy check answers when the source changed after it was hashed.
const SOURCE_CHANGED: &str = "the copy source changed while its checksum was computed";

/// The checksum a copy gets: the source's kept, or one computed over `etag`'s bytes.
#[derive(Clone)]
pub struct Plan {
    wanted: Option<Algorithm>,
    computed: Option<(String, StoredChecksum)>,
}

impl Plan {
    pub fn new(wanted: Option<Algorithm>) -> Self {
        Plan {
            wanted,
            computed: None,
        }
    }

    /// Run by the copy's check on the source it copies.
    pub fn decide(&self, source: &ObjectMeta) -> crate::storage::Result<Option<StoredChecksum>> {
        if let Some(kept) = self.kept(source) {
            return Ok(Some(kept));
        }
        match &self.computed {
            Some((etag, checksum))
                if *etag == source.etag && checksum.algorithm == self.algorithm(source).name() =>
            {
                Ok(Some(checksum.clone()))
            }
            _ => Err(Error::Unavailable(SOURCE_CHANGED.into())),
        }
    }

    /// Whether a refused copy only needs the source hashed (again).
    pub fn needs_hash(err: &Error) -> bool {
        matches!(err, Error::Unavailable(m) if m == SOURCE_CHANGED)
    }

    fn kept(&self, source: &ObjectMeta) -> Option<StoredChecksum> {
        let c = source.checksum.as_ref()?;
        let algorithm = Algorithm::from_name(&c.algorithm)?;
        let whole = ChecksumType::of_value(&c.value) == ChecksumType::FullObject;
        (whole && self.wanted.is_none_or(|w| w == algorithm)).then(|| StoredChecksum {
            algorithm: c.algorithm.clone(),
            value: c.value.clone(),
            parts: Vec::new(),
        })
    }

    fn algorithm(&self, source: &ObjectMeta) -> Algorithm {
        self.wanted
            .or_else(|| {
                let c = source.checksum.as_ref()?;
                Algorithm::from_name(&c.algorithm)
            })
            .unwrap_or(Algorithm::Crc64Nvme)
    }

    /// Hashes the source's current bytes for the copy to take.
    pub async fn hash_source(
        &mut self,
        ctx: &Ctx,
        source: &CopySource,
        key: Option<&CustomerKey>,
    ) -> S3Result<()> {
        let opened = ctx
            .store
            .open_object(
                &source.bucket,
                &source.key,
                source.version_id.as_deref(),
                true,
                key,
            )
            .await?;
        let (meta, Some(content)) = (opened.meta, opened.content) else {
            // A delete marker: the copy itself answers for it.
            return Ok(());
        };
        let mut hasher = Hasher::new(self.algorithm(&meta));
        let mut stream = content.stream(0, meta.size);
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(|e| S3Error::internal(e.to_string()))?);
        }
        let checksum = StoredChecksum {
            algorithm: hasher.algorithm.name().to_string(),
            value: hasher.finish(),
            parts: Vec::new(),
        };
        self.computed = Some((meta.etag, checksum));
        Ok(())
    }
}
