//! `crm asterisk-config`: a company's Asterisk configuration written into a folder.
use crate::{App, Config};
use anyhow::Context;
use crm_core::TenantId;
use std::path::{Path, PathBuf};

/// Renders `tenant`'s files into `out` (each written whole, then renamed into place, so an
/// Asterisk reloading meanwhile never reads half a file). Returns the paths written.
pub async fn write(config: Config, tenant: &str, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let tenant: TenantId = tenant.parse().map_err(|_| anyhow::anyhow!("--tenant must be a company id (a UUID)"))?;
    let app = App::open(config).await?;
    let files = app.services.asterisk_config_files(tenant).await.context("cannot render the configuration")?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = out.join(&file.path);
        let folder = path.parent().unwrap_or(out);
        tokio::fs::create_dir_all(folder).await.with_context(|| format!("cannot create {}", folder.display()))?;
        let partial = path.with_extension("conf.partial");
        tokio::fs::write(&partial, &file.content)
            .await
            .with_context(|| format!("cannot write {}", partial.display()))?;
        tokio::fs::rename(&partial, &path).await.with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
