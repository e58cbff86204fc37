//! Resolver tests.
