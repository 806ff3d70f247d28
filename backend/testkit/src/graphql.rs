//! A small GraphQL-over-HTTP client for tests.
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Gql {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// A company's owner just after `signUp`.
#[derive(Clone, Debug)]
pub struct SignedUp {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub company_id: String,
    pub email: String,
}

impl Gql {
    pub fn new(http: reqwest::Client, url: String) -> Self {
        Self { http, url, token: None }
    }

    /// The same caller against another server (a restarted or another process).
    pub fn at(&self, url: &str) -> Self {
        Self { url: url.to_owned(), ..self.clone() }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.to_owned()), ..self.clone() }
    }

    /// Runs an operation; returns the whole response body.
    pub async fn run(&self, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(&self.url).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    /// Runs an operation that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.run(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Runs an operation that must fail; returns the first error's `extensions.code`.
    pub async fn code(&self, query: &str, variables: Value) -> String {
        let body = self.run(query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got {body}"))
            .to_owned()
    }

    pub async fn sign_up(&self, company: &str, email: &str) -> SignedUp {
        let data = self
            .ok(
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken userId companyId } }",
                json!({ "input": {
                    "company": company, "name": format!("Owner of {company}"), "email": email,
                    "password": "correct horse battery", "defaultCountry": "UZ"
                }}),
            )
            .await;
        let s = &data["signUp"];
        SignedUp {
            access: s["accessToken"].as_str().unwrap().to_owned(),
            refresh: s["refreshToken"].as_str().unwrap().to_owned(),
            user_id: s["userId"].as_str().unwrap().to_owned(),
            company_id: s["companyId"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }
}
