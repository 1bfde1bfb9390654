//! The command line: `webserv [CONFIG]`, `webserv -t [CONFIG]`, `--help`, `--version`.

use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "conf/default.conf";

const USAGE: &str = "\
usage: webserv [CONFIG]        serve (CONFIG defaults to conf/default.conf)
       webserv -t [CONFIG]     check the configuration and exit
       webserv --help | --version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (test_only, path) = match args.as_slice() {
        [] => (false, PathBuf::from(DEFAULT_CONFIG)),
        [flag] if flag == "--help" || flag == "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [flag] if flag == "--version" || flag == "-v" => {
            println!("webserv {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        [flag] if flag == "-t" => (true, PathBuf::from(DEFAULT_CONFIG)),
        [flag, path] if flag == "-t" => (true, PathBuf::from(path)),
        [path] if !path.starts_with('-') => (false, PathBuf::from(path)),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match webserv::config::load(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(1);
        }
    };
    // Before the error log is opened, as configuration errors are: on stderr, at `-t` and at
    // startup alike.
    for warning in &config.warnings {
        eprintln!("{warning}");
    }
    if test_only {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    match webserv::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webserv: {message}");
            ExitCode::from(1)
        }
    }
}
