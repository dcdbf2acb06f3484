//! The `kasane` command line: docker's syntax and output over the kasane engine.
//!
//! The binary is a thin two-phase shell (STYLE.md rule 10): raw args → resolved options →
//! one engine call → a formatter from [`output`].

pub mod output;
