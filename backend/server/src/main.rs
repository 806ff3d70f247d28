use clap::{Parser, Subcommand};
use crm_server::{Config, telemetry};
use std::path::PathBuf;
use std::process::ExitCode;

// glibc's malloc was a fifth of the server's time under load (consolidating freed chunks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An open-source CRM with built-in telephony and an omnichannel inbox.
///
/// Settings come from defaults, then crm.toml (or --config), then CRM_* environment variables;
/// see the README for the table.
#[derive(Parser)]
#[command(name = "crm", version)]
struct Cli {
    /// A TOML configuration file (default: ./crm.toml when it exists).
    #[arg(long, global = true, env = "CRM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: migrate the database, then serve HTTP, GraphQL and WebSockets
    /// on CRM_HTTP_ADDR until SIGINT or SIGTERM.
    Serve,
    /// Run only the ARI worker of the Asterisk path (CRM_ASTERISK_*), until SIGINT or SIGTERM.
    Worker,
    /// Apply pending database migrations and exit (safe to run repeatedly).
    Migrate,
    /// Print the GraphQL schema (SDL); schema.graphql in the repository must equal it.
    Schema,
    /// Write a company's Asterisk configuration (pjsip.conf, extensions.conf, ari.conf,
    /// http.conf, rtp.conf and the company's own files under crm/) into a folder. Several
    /// companies can be written into the same folder: their files never collide.
    AsteriskConfig {
        /// The company's id.
        #[arg(long)]
        tenant: String,
        /// Asterisk's configuration folder (e.g. /etc/asterisk).
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", crm_api::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config);
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Worker => worker(config).await,
        Command::Schema => Ok(()),
        Command::AsteriskConfig { tenant, out } => {
            crm_server::asterisk_config::write(config, &tenant, &out).await.map(|written| {
                for path in written {
                    println!("{}", path.display());
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let url = match &config.database_admin_url {
        Some(admin) => admin.expose_secret().to_owned(),
        None => crm_server::app::database_url(config),
    };
    crm_db::migrate(&url).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = crm_server::start(config, shutdown_signal()).await?;
    running.handle.await??;
    tracing::info!("stopped");
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    let app = crm_server::App::build(config).await?;
    let _worker = app.start_asterisk_worker()?;
    shutdown_signal().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
