//! The blocking file-system operations of [`FileCachePersistence`](super::FileCachePersistence):
//! opening files without following symbolic links, refusing files another local user may have
//! planted, the cross-process lock file, atomic writes, and moving a corrupt file aside.

use std::fs::{File, Metadata};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::persistence::CacheVersion;
use crate::error::{Error, codes};

/// The version of a file: its length, modification time and inode.
pub(super) fn version_of(m: &Metadata) -> CacheVersion {
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

/// A file-system failure on the cache file (or its lock file, directory or temporary file).
pub(super) fn io_error(action: &str, path: &Path, e: io::Error) -> Error {
    Error::client(
        codes::CACHE_PERSISTENCE,
        format!(
            "cannot {action} the token cache file {}: {e}",
            path.display()
        ),
    )
    .with_source(e)
}

/// A refusal of a file that another local user may have planted or changed.
pub(super) fn untrusted(what: &str, path: &Path, why: &str) -> Error {
    Error::client(
        codes::CACHE_PERSISTENCE,
        format!(
            "the token cache {what} {} {why}; it was refused and left as it is",
            path.display()
        ),
    )
}

/// Whether `path` itself (not what it points to) is a symbolic link.
pub(super) fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Opens `path` with `options` without following a symbolic link in its last component: on
/// Unix with `O_NOFOLLOW` (and `O_NONBLOCK`, so that opening a planted FIFO does not wait for
/// a writer; it changes nothing for a regular file), elsewhere by looking first. A link is
/// an error; callers tell it apart with [`is_symlink`].
pub(super) fn open_no_follow(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt as _;
        // The flags are small positive constants: the cast keeps their value.
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    #[cfg(not(unix))]
    if is_symlink(path) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path is a symbolic link",
        ));
    }
    options.open(path)
}

/// Refuses an open cache or lock file that another local user may have planted or changed
/// (on Unix): not a regular file (a FIFO, a device), owned by another user than the
/// process's, or (`cache_file`) writable by group or others.
///
/// A cache file that group or others can *read* is accepted, with a warning: refusing it
/// would not take back what was readable already, MSAL Python's older versions and hand
/// edits create such files (mode `0644` with the usual umask), and the next save replaces it
/// with a `0600` file. A file others can *write* is refused: whoever can write it can plant
/// tokens and accounts that the application would then use as the user's.
pub(super) fn check_file(
    what: &str,
    path: &Path,
    meta: &Metadata,
    cache_file: bool,
) -> Result<(), Error> {
    if !meta.is_file() {
        return Err(untrusted(what, path, "is not a regular file"));
    }
    // Elsewhere, owners and modes are not Unix's: only the file type is checked.
    #[cfg(not(unix))]
    let _ = cache_file;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(untrusted(
                what,
                path,
                &format!(
                    "is owned by user {}, not by this process's user {me}",
                    meta.uid()
                ),
            ));
        }
        let mode = meta.mode() & 0o777;
        if cache_file && mode & 0o022 != 0 {
            return Err(untrusted(
                what,
                path,
                &format!(
                    "can be written by other users (mode {mode:03o}); make it private \
                     (`chmod 600`) if its contents are yours"
                ),
            ));
        }
        if cache_file && mode & 0o044 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:03o}"),
                "the token cache file can be read by other users; the next save makes it \
                 private (mode 0600)"
            );
        }
    }
    Ok(())
}

/// Creates the missing parent directories of `path` (mode `0700` on Unix); returns the
/// directory.
fn parent_dir(path: &Path) -> Result<&Path, io::Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    Ok(dir)
}

/// Takes the exclusive OS lock on the lock file (created if missing, mode `0600`), trying
/// again with a growing pause until `timeout` (for ever when `timeout` is too large to add
/// to the current time).
///
/// Stale locks: the lock is an OS file lock (`flock` on Unix, `LockFileEx` on Windows), not
/// the lock file's existence. The kernel releases it when the holder's last handle closes,
/// which includes the holder dying (killed, crashed), so a lock held by a dead process never
/// blocks anyone. The lock file itself is left in place on unlock: deleting it would let one
/// process lock the deleted file while another locks a new one, both thinking they hold the
/// lock. The bounded wait covers a live holder that hangs.
///
/// Planted lock files: the lock file is opened without following a symbolic link and is
/// written to (the holder's process id) only when it is a regular file of this user with no
/// other name; anything else is refused before it is locked or truncated, so a link planted
/// at `<file>.lockfile` cannot make this process truncate the file it points to.
pub(super) fn acquire_lock(lock_path: &Path, timeout: Duration) -> Result<File, Error> {
    let fail = |e| io_error("lock", lock_path, e);
    parent_dir(lock_path).map_err(fail)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match open_no_follow(lock_path, &mut options) {
        Ok(f) => f,
        Err(_) if is_symlink(lock_path) => {
            return Err(untrusted("lock file", lock_path, "is a symbolic link"));
        }
        Err(e) => return Err(fail(e)),
    };
    let meta = file.metadata().map_err(fail)?;
    check_file("lock file", lock_path, &meta, false)?;
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
        return Err(untrusted(
            "lock file",
            lock_path,
            "has other names (hard links): it may be another file",
        ));
    }
    // `None`: the timeout is too large to add to now (`Duration::MAX`): wait for ever.
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let now = Instant::now();
                let left = deadline.map(|d| d.saturating_duration_since(now));
                if left.is_some_and(|l| l.is_zero()) {
                    let holder = holder_of(&mut file);
                    return Err(Error::client(
                        codes::CACHE_PERSISTENCE,
                        format!(
                            "the token cache lock file {} is still locked by another process \
                             after {} ms{holder}",
                            lock_path.display(),
                            timeout.as_millis()
                        ),
                    ));
                }
                std::thread::sleep(left.map_or(pause, |l| pause.min(l)));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
        }
    }
    // Who holds it, for the message of a process that times out waiting (best effort).
    let who = format!(
        "{} {}",
        std::process::id(),
        std::env::args().next().unwrap_or_default()
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(who.as_bytes()));
    Ok(file)
}

/// ` (held by process …)` from what the holder wrote in the lock file, read through the open
/// handle (the name may point elsewhere by now), at most 256 bytes, control characters
/// dropped; empty when there is nothing to tell.
fn holder_of(file: &mut File) -> String {
    let mut bytes = Vec::new();
    if file.rewind().is_err() || (&*file).take(256).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match text.trim() {
        "" => String::new(),
        holder => format!(" (held by process {holder})"),
    }
}

/// Renames a corrupt cache file to `<file>.corrupt-<UTC time>` (mode `0600`); returns the new
/// path, `None` when the file is gone already. Symbolic links are not followed: a link is
/// renamed as the link, and the mode is set through a handle opened without following one, so
/// a file swapped for a link meanwhile cannot make this process change the mode of the
/// link's target.
pub(super) fn move_aside(path: &Path) -> Result<Option<PathBuf>, Error> {
    let fail = |e| io_error("move aside", path, e);
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
        ))
        .unwrap_or_else(|_| "unknown-time".to_owned());
    let base = path.as_os_str().to_owned();
    let mut n = 0u32;
    let target = loop {
        let mut name = base.clone();
        name.push(format!(".corrupt-{stamp}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let candidate = PathBuf::from(name);
        if std::fs::symlink_metadata(&candidate).is_err() {
            break candidate;
        }
        n += 1;
    };
    std::fs::rename(path, &target).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(file) = open_no_follow(&target, std::fs::OpenOptions::new().read(true))
            && file.metadata().is_ok_and(|m| m.is_file())
        {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
    }
    Ok(Some(target))
}

/// Writes `data` to a temporary file next to `path`, then renames it over `path`. Returns the
/// version of the written file (a rename keeps length, modification time and inode).
pub(super) fn write_atomic(path: &Path, data: &[u8]) -> Result<CacheVersion, Error> {
    let fail = |e| io_error("write", path, e);
    let file_name = path.file_name().ok_or_else(|| {
        fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let dir = parent_dir(path).map_err(fail)?;

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
