//! MSAL's JSON: reading a cache document into a [`Store`] (unknown sections and fields kept)
//! and writing one back as MSAL Python does (four-space indentation, its section order).

use std::hash::BuildHasher;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::index::{Render, Section, Store};
use super::key::{self, PartitionHasher};
use super::schema;
use crate::error::{Error, codes};

impl<T> Section<T> {
    fn is_written(&self) -> bool {
        self.present || !self.entries.is_empty()
    }
}

impl<T: Render> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(k, r)| (k, r.json())))
    }
}

impl<S: BuildHasher + Clone> Store<S> {
    /// Parses MSAL's JSON. An empty (or blank) string is an empty cache; anything else that
    /// is not a JSON object of well-formed sections is a `cache_corrupt` error.
    pub(crate) fn from_json(json: &str, hasher: PartitionHasher<S>) -> Result<Self, Error> {
        let mut store = Store::with_hasher(hasher);
        if json.trim().is_empty() {
            return Ok(store);
        }
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::client(
                codes::CACHE_CORRUPT,
                format!("the token cache is corrupt: it is not valid JSON ({e})"),
            )
            .with_source(e)
        })?;
        let Value::Object(top) = value else {
            return Err(schema::not_an_object("the token cache"));
        };
        for (name, section) in top {
            let known = [
                key::ACCESS_TOKEN,
                key::REFRESH_TOKEN,
                key::ID_TOKEN,
                key::ACCOUNT,
                key::APP_METADATA,
            ]
            .contains(&name.as_str());
            if !known {
                store.unknown.insert(name, section);
                continue;
            }
            let Value::Object(entries) = section else {
                return Err(schema::not_an_object(&format!("section {name}")));
            };
            for (key, entry) in entries {
                let Value::Object(raw) = entry else {
                    return Err(schema::not_an_object(&format!("{name} entry {key:?}")));
                };
                match name.as_str() {
                    key::ACCESS_TOKEN => store.insert_at(key, raw)?,
                    key::REFRESH_TOKEN => store.insert_rt(key, raw)?,
                    key::ID_TOKEN => store.insert_idt(key, raw)?,
                    key::ACCOUNT => store.insert_account(key, raw)?,
                    _ => store.insert_app_metadata(key, raw)?,
                }
            }
            match name.as_str() {
                key::ACCESS_TOKEN => store.ats.present = true,
                key::REFRESH_TOKEN => store.rts.present = true,
                key::ID_TOKEN => store.idts.present = true,
                key::ACCOUNT => store.accounts.present = true,
                _ => store.app_metadata.present = true,
            }
        }
        store.generation = 0;
        Ok(store)
    }

    /// MSAL's JSON, indented by four spaces as MSAL Python writes it.
    ///
    /// Cannot fail in practice (string keys, JSON values, an in-memory writer); if it ever
    /// did, the error keeps a persistence from saving something else over the stored cache.
    pub(crate) fn to_json(&self) -> Result<String, Error> {
        let mut out = Vec::with_capacity(4096);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut ser).map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache cannot be serialized",
            )
            .with_source(e)
        })?;
        String::from_utf8(out).map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache cannot be serialized",
            )
            .with_source(e)
        })
    }
}

impl<H> Serialize for Store<H> {
    /// The sections in the order MSAL Python creates them, then the unknown ones. A known
    /// section is written when it has entries or was in the input.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.ats.is_written() {
            map.serialize_entry(key::ACCESS_TOKEN, &self.ats)?;
        }
        if self.accounts.is_written() {
            map.serialize_entry(key::ACCOUNT, &self.accounts)?;
        }
        if self.idts.is_written() {
            map.serialize_entry(key::ID_TOKEN, &self.idts)?;
        }
        if self.rts.is_written() {
            map.serialize_entry(key::REFRESH_TOKEN, &self.rts)?;
        }
        if self.app_metadata.is_written() {
            map.serialize_entry(key::APP_METADATA, &self.app_metadata)?;
        }
        for (name, section) in &self.unknown {
            map.serialize_entry(name, section)?;
        }
        map.end()
    }
}
