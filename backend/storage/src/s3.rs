use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use crm_core::storage::ObjectStore;
use crm_core::{Error, Result};

#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// For S3-compatible services (MinIO, moto, Ceph...); unset means AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("secret_access_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(settings: &S3Settings) -> Self {
        let credentials =
            Credentials::new(&settings.access_key_id, &settings.secret_access_key, None, None, "crm-config");
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self { client: Client::from_conf(config.build()), bucket: settings.bucket.clone() }
    }

    /// Creates the bucket when it does not exist (first start against a fresh server).
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

fn s3_err<E: std::error::Error + Send + Sync + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> Error {
    Error::internal(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<(Bytes, String)> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Err(Error::NotFound),
            Err(e) => return Err(s3_err(e)),
        };
        let content_type = object.content_type().unwrap_or("application/octet-stream").to_owned();
        let body = object.body.collect().await.map_err(Error::internal)?.into_bytes();
        Ok((body, content_type))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(s3_err)?;
        Ok(())
    }
}
