//! The cache file against a hostile local process: planted links, FIFOs and other users'
//! files, a lock timeout of `Duration::MAX`, and a save whose caller gives up half-way.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::*;
use crate::cache::{AccessTokenQuery, CacheWrite, TokenCache};
use crate::error::ErrorKind;

/// A key store that is slow to answer, as the OS secret store is while it waits on an unlock
/// prompt: the first `load_key` says it started, then waits for a go (bounded by [`LIMIT`])
/// and answers that no secret store is available. With [`EncryptionFallback::PlainText`], a
/// save asks it from inside its blocking write, under the lock and before the rename, and then
/// writes plain text: it holds the write where a slow disk would.
#[derive(Debug)]
struct SlowKeyStore {
    started: Mutex<Option<mpsc::Sender<()>>>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl KeyStore for SlowKeyStore {
    fn load_key(&self) -> Result<Option<EncryptionKey>, crypto::KeyStoreError> {
        if let Some(started) = self.started.lock().unwrap().take() {
            let _ = started.send(());
            let _ = self.go.lock().unwrap().recv_timeout(LIMIT);
        }
        Err(crypto::KeyStoreError::unavailable("a slow test key store"))
    }

    fn store_key(&self, _: &EncryptionKey) -> Result<(), crypto::KeyStoreError> {
        Err(crypto::KeyStoreError::unavailable("a slow test key store"))
    }
}

const CLIENT: &str = "6a0b2d54-6d1c-4d0e-9a3c-3f0e5a7b9c11";
const ENV: &str = "login.microsoftonline.com";
const TENANT: &str = "00000001-0000-4000-8000-000000000000";
const SCOPE: &str = "https://api.example/.default";
/// Bounds every wait of these tests.
const LIMIT: Duration = Duration::from_secs(20);

/// Saves one app token with this secret.
async fn save_token(cache: &TokenCache, secret: &str) -> Result<(), Error> {
    let scopes = vec![SCOPE.to_owned()];
    cache
        .save_response(CacheWrite {
            client_id: CLIENT,
            environment: ENV,
            realm: TENANT,
            scopes: &scopes,
            access_token: Some(secret),
            token_type: "Bearer",
            expires_in: 3600,
            ext_expires_in: None,
            refresh_in: None,
            refresh_token: None,
            family_id: None,
            id_token: None,
            id_token_claims: None,
            home_account_id: None,
            user_assertion_hash: None,
            key_id: None,
            now: crate::clock::now_unix(),
        })
        .await
        .map(|_| ())
}

/// The secret of the app token, if the cache has it.
async fn find_token(cache: &TokenCache) -> Result<Option<String>, Error> {
    let scopes = vec![SCOPE.to_owned()];
    let environments = vec![ENV.to_owned()];
    let found = cache
        .find_access_token(&AccessTokenQuery {
            client_id: CLIENT,
            environments: &environments,
            realm: TENANT,
            scopes: &scopes,
            home_account_id: None,
            user_assertion_hash: None,
            bound: None,
            now: crate::clock::now_unix(),
            scope_bloom: None,
            partition: None,
        })
        .await?;
    Ok(found.map(|t| t.secret.secret().to_owned()))
}

fn file_cache(path: &Path) -> TokenCache {
    TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path)))
}

/// A valid cache file's contents holding the token `secret`.
#[cfg(unix)]
async fn cache_json(secret: &str) -> String {
    let cache = TokenCache::new();
    save_token(&cache, secret).await.unwrap();
    cache.serialize()
}

fn assert_refused(e: &Error, why: &str) {
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, codes::CACHE_PERSISTENCE),
        "{e}"
    );
    assert!(e.description().contains(why), "{e}");
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Gives `path` to another user when this process may (as root, in CI); `false` otherwise.
#[cfg(unix)]
fn give_away(path: &Path) -> bool {
    std::os::unix::fs::chown(path, Some(54_321), Some(54_321)).is_ok()
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_planted_as_the_lock_file_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let p = FileCachePersistence::new(&path);
    std::os::unix::fs::symlink(&victim, p.lock_path()).unwrap();

    let e = tokio::time::timeout(LIMIT, save_token(&file_cache(&path), "x"))
        .await
        .unwrap()
        .unwrap_err();
    assert_refused(&e, "is a symbolic link");
    assert!(e.description().contains("lock file"), "{e}");
    assert_refused(&p.lock().await.unwrap_err(), "is a symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!path.exists(), "nothing was saved");

    // A link to a file that does not exist yet is not followed to create it either.
    let planted = dir.path().join("created-through-the-link");
    std::fs::remove_file(p.lock_path()).unwrap();
    std::os::unix::fs::symlink(&planted, p.lock_path()).unwrap();
    assert_refused(&p.lock().await.unwrap_err(), "is a symbolic link");
    assert!(!planted.exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_lock_file_that_is_not_a_regular_file_of_this_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let p = FileCachePersistence::new(&path);

    // A FIFO: refused, without waiting for a writer.
    mkfifo(p.lock_path());
    let e = tokio::time::timeout(LIMIT, p.lock())
        .await
        .unwrap()
        .unwrap_err();
    assert_refused(&e, "is not a regular file");
    std::fs::remove_file(p.lock_path()).unwrap();

    // A hard link to another file of this user: not truncated.
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::hard_link(&victim, p.lock_path()).unwrap();
    assert_refused(&p.lock().await.unwrap_err(), "has other names");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_file(p.lock_path()).unwrap();

    // Another user's lock file (checked where this process can make one: as root).
    std::fs::write(p.lock_path(), "someone else").unwrap();
    if give_away(p.lock_path()) {
        assert_refused(&p.lock().await.unwrap_err(), "is owned by user 54321");
        assert_eq!(
            std::fs::read_to_string(p.lock_path()).unwrap(),
            "someone else"
        );
    }
    std::fs::remove_file(p.lock_path()).unwrap();

    // The regular case still works: created, private, locked.
    drop(p.lock().await.unwrap());
    assert_eq!(mode_of(p.lock_path()), 0o600);
}

#[cfg(unix)]
#[tokio::test]
async fn a_cache_file_that_is_a_symlink_or_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let elsewhere = dir.path().join("elsewhere.json");
    let planted = cache_json("planted").await;
    std::fs::write(&elsewhere, &planted).unwrap();
    set_mode(&elsewhere, 0o600);
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();

    let cache = file_cache(&path);
    assert_refused(&find_token(&cache).await.unwrap_err(), "is a symbolic link");
    assert_refused(
        &save_token(&cache, "mine").await.unwrap_err(),
        "is a symbolic link",
    );
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), planted);
    assert!(is_symlink(&path), "left as it is");

    // A FIFO: refused at once, not waited on (opening one to read waits for a writer).
    std::fs::remove_file(&path).unwrap();
    mkfifo(&path);
    let found = tokio::time::timeout(LIMIT, find_token(&file_cache(&path))).await;
    let Ok(found) = found else {
        // Unblocks the reader stuck in `open` so the test can end.
        use std::os::unix::fs::OpenOptionsExt as _;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path);
        panic!("reading a FIFO as the cache file hung");
    };
    assert_refused(&found.unwrap_err(), "is not a regular file");
}

#[cfg(unix)]
#[tokio::test]
async fn a_cache_file_others_can_write_or_another_user_owns_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let planted = cache_json("planted").await;
    std::fs::write(&path, &planted).unwrap();

    // Each check with a new cache: a cache reads the file again only when it changed.
    for mode in [0o666, 0o620, 0o602] {
        set_mode(&path, mode);
        let e = find_token(&file_cache(&path)).await.unwrap_err();
        assert_refused(&e, &format!("mode {mode:03o}"));
        let e = save_token(&file_cache(&path), "mine").await.unwrap_err();
        assert_refused(&e, "can be written by other users");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), planted);
    }

    // Readable by others is accepted (MSAL Python's older files are 0644); the next save
    // makes it private.
    set_mode(&path, 0o644);
    let cache = file_cache(&path);
    assert_eq!(
        find_token(&cache).await.unwrap().as_deref(),
        Some("planted")
    );
    save_token(&cache, "mine").await.unwrap();
    assert_eq!(mode_of(&path), 0o600);

    // Another user's file (checked where this process can make one: as root).
    if give_away(&path) {
        let e = find_token(&file_cache(&path)).await.unwrap_err();
        assert_refused(&e, "is owned by user 54321");
    }
}

#[cfg(unix)]
#[test]
fn moving_a_corrupt_file_aside_does_not_follow_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    set_mode(&victim, 0o644);
    std::os::unix::fs::symlink(&victim, &path).unwrap();

    let moved = move_aside(&path).unwrap().expect("moved");
    assert!(is_symlink(&moved), "the link itself was renamed");
    assert!(!path.exists());
    assert_eq!(mode_of(&victim), 0o644, "the link's target keeps its mode");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    // A regular file is made private, as before.
    std::fs::write(&path, "{").unwrap();
    set_mode(&path, 0o644);
    let moved = move_aside(&path).unwrap().expect("moved");
    assert_eq!(mode_of(&moved), 0o600);
    assert_eq!(move_aside(&path).unwrap(), None, "gone already");
}

#[tokio::test]
async fn a_lock_timeout_of_duration_max_waits_as_long_as_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let patient = FileCachePersistence::new(&path).lock_timeout(Duration::MAX);

    // Uncontended.
    let guard = tokio::time::timeout(LIMIT, patient.lock())
        .await
        .unwrap()
        .unwrap();
    drop(guard);

    // Contended: another handle holds the lock, and releases it a little later.
    let holder = FileCachePersistence::new(&path).lock().await.unwrap();
    let impatient = FileCachePersistence::new(&path).lock_timeout(Duration::ZERO);
    assert_refused(&impatient.lock().await.unwrap_err(), "still locked");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(holder);
    });
    let guard = tokio::time::timeout(LIMIT, patient.lock())
        .await
        .unwrap()
        .unwrap();
    release.join().unwrap();
    drop(guard);

    // Through a cache too.
    let cache = TokenCache::with_persistence(Arc::new(patient));
    save_token(&cache, "x").await.unwrap();
    assert_eq!(
        find_token(&file_cache(&path)).await.unwrap().as_deref(),
        Some("x")
    );
}

/// A save whose caller drops its future while the file is being written keeps the lock
/// until the renamed file is in place: another process that takes the lock then sees the
/// save, and its own save cannot be undone by the late rename.
#[tokio::test]
async fn a_save_dropped_by_its_caller_keeps_the_lock_until_its_write_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let key_store = SlowKeyStore {
        started: Mutex::new(Some(started_tx)),
        go: Mutex::new(go_rx),
    };
    let slow = FileCachePersistence::new(&path)
        .encrypted(Arc::new(key_store), EncryptionFallback::PlainText);
    let cache = TokenCache::with_persistence(Arc::new(slow));

    // The caller gives up once the write has started (the save's future is dropped).
    let started = tokio::task::spawn_blocking(move || started_rx.recv_timeout(LIMIT));
    tokio::select! {
        r = save_token(&cache, "first") => panic!("the save ended before its write: {r:?}"),
        s = started => s.unwrap().expect("the write started"),
    }

    // The write goes on: the lock is still held, and nothing is renamed in place yet.
    let other = FileCachePersistence::new(&path).lock_timeout(Duration::ZERO);
    assert_refused(&other.lock().await.unwrap_err(), "still locked");
    assert!(!path.exists());

    // Once the write is done, the lock is free and the save is there to merge with.
    go_tx.send(()).unwrap();
    let other = FileCachePersistence::new(&path).lock_timeout(LIMIT);
    let guard = tokio::time::timeout(LIMIT, other.lock())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read(&path, None).unwrap().0.map(|d| d.contains("first")),
        Some(true)
    );
    drop(guard);
}
