//! Azure Arc's challenge: a request without `Authorization` gets 401 with
//! `WWW-Authenticate: Basic realm=<key file>`, a file the agent has just written (mode 0600);
//! the same request with `Authorization: Basic <the file's content>` gets the token.

use std::io::Write as _;

use subtle::ConstantTimeEq;

use crate::records::ArcKey;
use crate::shared::{Shared, lock};
use crate::state::{State, now_secs, random_token};
use crate::wire::{Ctx, Incoming, Reply};

use super::source::Source;

/// How long a key is accepted, in seconds (it may be used again until then).
const KEY_LIFETIME_SECS: u64 = 300;

/// At most this many keys (and key files) are outstanding: every request without a key makes
/// one, so the oldest go first.
const MAX_KEYS: usize = 256;

/// Checks the request's key. `Ok` lets the request through; `Err` is the 401 answer: a new
/// challenge (no `Authorization`) or the refusal of a wrong or expired key. With `denied`
/// (the `arc_challenge_denied` fault) the challenge names no file and every key is refused.
pub(super) fn check_key(
    shared: &Shared,
    ctx: &Ctx,
    inc: &Incoming,
    denied: bool,
) -> Result<(), Reply> {
    let refused = || {
        Source::Arc.error(
            ctx,
            401,
            "invalid_request",
            "The key presented in the Authorization header is not valid.",
        )
    };
    let Some(auth) = inc.header("authorization") else {
        if denied {
            return Err(challenge(ctx, None));
        }
        return Err(match write_key(shared) {
            Ok(path) => challenge(ctx, Some(&path)),
            Err(e) => Source::Arc.error(
                ctx,
                500,
                "server_error",
                &format!("The agent could not write its key file: {e}"),
            ),
        });
    };
    if denied {
        return Err(refused());
    }
    let presented = auth
        .strip_prefix("Basic ")
        .or_else(|| auth.strip_prefix("basic "))
        .unwrap_or_default()
        .trim();
    let st = &mut *shared.st();
    forget_keys(st, 0);
    let known = st
        .arc_keys
        .keys()
        .any(|k| !presented.is_empty() && bool::from(k.as_bytes().ct_eq(presented.as_bytes())));
    if known { Ok(()) } else { Err(refused()) }
}

/// Forgets the expired keys, and the oldest ones beyond `MAX_KEYS - room`, removing their
/// files.
fn forget_keys(st: &mut State, room: usize) {
    let now = now_secs();
    let mut keys: Vec<(String, u64, std::time::Instant)> = st
        .arc_keys
        .iter()
        .map(|(c, k)| (c.clone(), k.expires_at, k.written))
        .collect();
    keys.sort_by_key(|(_, _, written)| *written);
    let excess = keys.len().saturating_sub(MAX_KEYS - room);
    for (i, (c, exp, _)) in keys.into_iter().enumerate() {
        if (exp <= now || i < excess)
            && let Some(k) = st.arc_keys.remove(&c)
        {
            // Already removed by someone else: fine.
            let _ = std::fs::remove_file(k.path);
        }
    }
}

/// The 401 challenge, naming `path` as the realm (none: an unusable challenge).
fn challenge(ctx: &Ctx, path: Option<&str>) -> Reply {
    let header = match path {
        Some(p) => format!("Basic realm={p}"),
        None => "Basic".to_string(),
    };
    Source::Arc
        .error(
            ctx,
            401,
            "invalid_request",
            "Unauthorized: present the content of the realm's key file as 'Authorization: Basic <key>'.",
        )
        .header("www-authenticate", header)
}

/// Writes a new key file `<dir>/<random>.key` (mode 0600, never over an existing file) and
/// remembers its content; answers its path.
fn write_key(shared: &Shared) -> std::io::Result<String> {
    let content = random_token(32);
    let path = shared
        .arc_dir
        .path
        .join(format!("{}.key", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path)?;
    f.write_all(content.as_bytes())?;
    let mut written = lock(&shared.arc_dir.written);
    written.retain(|p| p.exists());
    written.push(path.clone());
    drop(written);
    let mut st = shared.st();
    forget_keys(&mut st, 1);
    st.arc_keys.insert(
        content,
        ArcKey {
            path: path.clone(),
            expires_at: now_secs() + KEY_LIFETIME_SECS,
            written: std::time::Instant::now(),
        },
    );
    Ok(path.to_string_lossy().into_owned())
}
