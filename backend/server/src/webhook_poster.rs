//! Posts outbound webhooks over HTTP (the domain decides what and when).
use crm_core::webhooks::WebhookPoster;
use std::time::Duration;

pub struct HttpPoster {
    http: reqwest::Client,
}

impl HttpPoster {
    pub fn new() -> Self {
        // A receiver that does not answer in 10 s counts as failed; redirects are not followed
        // (the signed body must go to the address the company gave).
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("crm-webhooks/1")
            .build()
            .unwrap_or_default();
        Self { http }
    }
}

#[async_trait::async_trait]
impl WebhookPoster for HttpPoster {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> Result<u16, String> {
        let mut request = self.http.post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) if error.is_timeout() => Err("the receiver did not answer within 10 s".into()),
            Err(error) if error.is_connect() => Err("the receiver could not be reached".into()),
            Err(error) => Err(error.without_url().to_string()),
        }
    }
}
