//! Where secrets go once read.

pub mod env;
pub mod file;
