//! A cache file, as the CLI's `--cache FILE` uses: MSAL's JSON, replaced atomically.

use std::fs::{File, Metadata};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::persistence::{CachePersistence, CacheVersion, LoadOutcome};
use crate::error::{Error, codes};
use crate::http::BoxFuture;

/// The version of a missing file.
const MISSING: CacheVersion = CacheVersion::from_parts([u64::MAX; 4]);

/// Keeps a token cache in a file, in MSAL's JSON (the format MSAL Python's
/// `SerializableTokenCache` reads and writes), unencrypted.
///
/// - A missing or empty file is an empty cache; a file that is not a valid cache is a
///   `Client` error with the code `cache_corrupt`, and the file is left as it is.
/// - Saving writes a temporary file in the same directory (mode `0600` on Unix), flushes it
///   to disk, then renames it over the cache file, so a reader never sees a partial file.
///   Missing parent directories are created (mode `0700` on Unix).
/// - Before each access the file is read again only when its length, modification time or
///   inode changed since this process last read or wrote it: one `stat` per access otherwise.
///
/// Another process writing the file at the same moment can still lose an update; cross-process
/// locking is not implemented yet.
#[derive(Debug, Clone)]
pub struct FileCachePersistence {
    path: PathBuf,
}

impl FileCachePersistence {
    /// A persistence in the file at `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCachePersistence { path: path.into() }
    }

    /// The path of the cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn version_of(m: &Metadata) -> CacheVersion {
    let (secs, nanos) = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (d.as_secs(), u64::from(d.subsec_nanos())));
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    CacheVersion::from_parts([m.len(), secs, nanos, inode])
}

fn io_error(action: &str, path: &Path, e: io::Error) -> Error {
    Error::client(
        codes::CACHE_PERSISTENCE,
        format!(
            "cannot {action} the token cache file {}: {e}",
            path.display()
        ),
    )
    .with_source(e)
}

/// Reads the file and the version of what was read (from the open file, so they agree).
fn read(path: &Path) -> Result<(Option<String>, CacheVersion), Error> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, MISSING)),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let meta = file.metadata().map_err(|e| io_error("read", path, e))?;
    if meta.is_dir() {
        return Err(Error::client(
            codes::CACHE_PERSISTENCE,
            format!("the token cache file {} is a directory", path.display()),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| io_error("read", path, e))?;
    let mut data = String::from_utf8(bytes).map_err(|e| {
        Error::client(
            codes::CACHE_CORRUPT,
            format!(
                "the token cache file {} is corrupt: it is not UTF-8 text",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    if data.starts_with('\u{feff}') {
        data.drain(..'\u{feff}'.len_utf8());
    }
    Ok((Some(data), version_of(&meta)))
}

/// Writes `data` to a temporary file next to `path`, then renames it over `path`. Returns the
/// version of the written file (a rename keeps length, modification time and inode).
fn write_atomic(path: &Path, data: &[u8]) -> Result<CacheVersion, Error> {
    let fail = |e| io_error("write", path, e);
    let file_name = path.file_name().ok_or_else(|| {
        fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(fail)?;

    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    let written = (|| {
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(data)?;
        file.sync_all()?;
        let meta = file.metadata()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        Ok(meta)
    })();
    match written {
        Ok(meta) => {
            #[cfg(unix)]
            if let Ok(d) = File::open(dir) {
                // Makes the rename durable; failing to is not an error of the save.
                let _ = d.sync_all();
            }
            Ok(version_of(&meta))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(fail(e))
        }
    }
}

/// Runs blocking file I/O off the async executor when there is a Tokio runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache file task did not complete",
            )
            .with_source(e)
        }),
        Err(_) => Ok(f()),
    }
}

impl CachePersistence for FileCachePersistence {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>> {
        Box::pin(async move {
            let path = self.path.clone();
            Ok(blocking(move || read(&path)).await??.0)
        })
    }

    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.save_versioned(data).await.map(|_| ()) })
    }

    fn load_if_changed(
        &self,
        last: Option<CacheVersion>,
    ) -> BoxFuture<'_, Result<LoadOutcome, Error>> {
        Box::pin(async move {
            if let Some(last) = last {
                // One stat: cheap enough to run inline.
                match std::fs::metadata(&self.path) {
                    Ok(m) if version_of(&m) == last => return Ok(LoadOutcome::Unchanged),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && last == MISSING => {
                        return Ok(LoadOutcome::Unchanged);
                    }
                    _ => {}
                }
            }
            let path = self.path.clone();
            let (data, version) = blocking(move || read(&path)).await??;
            Ok(LoadOutcome::Loaded {
                data,
                version: Some(version),
            })
        })
    }

    fn save_versioned(&self, data: String) -> BoxFuture<'_, Result<Option<CacheVersion>, Error>> {
        Box::pin(async move {
            let path = self.path.clone();
            let version = blocking(move || write_atomic(&path, data.as_bytes())).await??;
            Ok(Some(version))
        })
    }
}
