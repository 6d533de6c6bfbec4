//! worker-orcd entry point: parse the command line and run the subcommand. Errors print one line
//! to stderr and exit 1.

use clap::Parser;
use worker_orcd::cli::{self, Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(a) => cli::generate::run(a),
        Command::Logits(a) => cli::logits::run(a),
        Command::Bench(a) => cli::bench::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
