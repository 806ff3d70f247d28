use async_trait::async_trait;
use bytes::Bytes;
use crm_core::storage::ObjectStore;
use crm_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Objects as files under one folder. Writes go to a temporary file renamed into place,
/// so a crash never leaves a half-written object under its final name.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(&root).await.map_err(Error::internal)?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        if key.split('/').any(|part| part.is_empty() || part == ".." || part == ".") {
            return Err(Error::NotFound);
        }
        Ok(self.root.join(Path::new(key)))
    }
}

fn content_type_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".content-type");
    PathBuf::from(name)
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(Error::internal)?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &body).await.map_err(Error::internal)?;
        tokio::fs::write(content_type_path(&path), content_type).await.map_err(Error::internal)?;
        tokio::fs::rename(&tmp, &path).await.map_err(Error::internal)
    }

    async fn get(&self, key: &str) -> Result<(Bytes, String)> {
        let path = self.path(key)?;
        let body = match tokio::fs::read(&path).await {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound),
            Err(e) => return Err(Error::internal(e)),
        };
        let content_type = tokio::fs::read_to_string(content_type_path(&path))
            .await
            .unwrap_or_else(|_| "application/octet-stream".into());
        Ok((Bytes::from(body), content_type))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        for file in [content_type_path(&path), path] {
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::internal(e)),
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        tokio::fs::metadata(&self.root).await.map(|_| ()).map_err(Error::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        store.put("tenants/a/x.wav", Bytes::from_static(b"RIFF"), "audio/wav").await.unwrap();
        let (body, ct) = store.get("tenants/a/x.wav").await.unwrap();
        assert_eq!(&body[..], b"RIFF");
        assert_eq!(ct, "audio/wav");
        store.delete("tenants/a/x.wav").await.unwrap();
        assert!(matches!(store.get("tenants/a/x.wav").await, Err(Error::NotFound)));
        assert!(matches!(store.get("../etc/passwd").await, Err(Error::NotFound)));
    }
}
