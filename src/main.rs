//! worker-orcd entry point: the daemon when no subcommand is given, otherwise the subcommand.
//! Bad arguments and errors print one line to stderr and exit 1.

use clap::error::ErrorKind;
use clap::Parser;
use worker_orcd::cli::{self, Cli, Command};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) => {
            let _ = e.print();
            std::process::exit(1);
        }
    };
    let result = match &cli.command {
        None => std::process::exit(worker_orcd::daemon::run(cli.daemon)),
        Some(Command::Generate(a)) => cli::generate::run(a),
        Some(Command::Logits(a)) => cli::logits::run(a),
        Some(Command::Bench(a)) => cli::bench::run(a),
        Some(Command::Tokenize(a)) => cli::tokenize::run(a),
        Some(Command::ChatTemplateHelper(a)) => std::process::exit(worker_orcd::chat::isolated::helper_main(a.memory_mib)),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
