//! `kasane`: docker's command line over a daemonless image engine.
//!
//! Two phases (STYLE.md rule 10): clap turns raw arguments into a [`cli::Command`], then one
//! function per command in `cli/` calls the engine once and formats with `kasane::output`.
//! Exit codes follow docker (docker-formats.md §7): 0 ok, 1 errors, 125 usage errors,
//! 64 for an inspect template that does not parse.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The embedded OCI runtime forks this process: dispatch it before anything could start a
    // thread (see kasane_runtime::embedded).
    let mut raw = std::env::args_os();
    if raw.nth(1).is_some_and(|a| a == "runtime") {
        let code = kasane_runtime::embedded::main(raw.collect());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            // Printing can only fail on a closed stdout/stderr; nothing more to report then.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli::init_logging(&args.global);
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        // docker exits 1 for every error a command reports (usage errors exit 125 above;
        // `inspect` returns 64 itself for a template that does not parse).
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
