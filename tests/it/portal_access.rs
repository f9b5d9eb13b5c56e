//! Who a portal link lets in, and to what, against a real Herald over HTTP: a
//! link signs its tenant's customer in with a HttpOnly, Secure, SameSite cookie;
//! the cookie reaches only that tenant's data and only the customer's routes;
//! every change needs the session's CSRF value; read-only sessions change
//! nothing; expired, altered and other-key tokens see the expired page and no
//! data. Also the two reads the portal's pages added: deliveries by event type,
//! and statistics cut into spans.

use herald_tests::herald::{OTHER_API_KEY, TENANT};
use herald_tests::{Api, Herald, NatsServer, Receiver};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// A browser's view of one portal session: its cookie and its CSRF value.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    /// Opens `link` the way a browser would, then reads the session.
    async fn sign_in(base: &str, link: &str) -> Self {
        let http = client();
        let answer = http.get(link).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(answer.headers()[LOCATION], "/portal/");
        let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        for attribute in ["Path=/;", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        assert!(!set.contains("Domain"), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("__Host-herald-portal="), "{cookie}");
        let mut browser = Browser {
            http,
            base: base.to_owned(),
            cookie,
            csrf: String::new(),
        };
        let (status, session) = browser.call("GET", "/portal/api/session", None).await;
        assert_eq!(status, StatusCode::OK, "{session}");
        browser.csrf = session["csrf_token"].as_str().unwrap().to_owned();
        browser
    }

    /// A request with the session cookie, and with its CSRF value when `csrf`.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie);
        if csrf {
            request = request.header("x-csrf-token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.request(method, path, body, true).await
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A sign-in link for the key's tenant.
async fn link(api: &Api, body: Value) -> String {
    let (status, answer) = api.post("/v1/portal/sessions", body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(answer["expires_at"].as_str().is_some(), "{answer}");
    answer["url"].as_str().unwrap().to_owned()
}

/// What opening `link` shows: its status and page, and whether it set a session.
async fn open(link: &str) -> (StatusCode, String, bool) {
    let answer = client().get(link).send().await.unwrap();
    let status = answer.status();
    let signed_in = answer.headers().get_all(SET_COOKIE).iter().any(|c| {
        c.to_str().unwrap().contains("herald-portal=") && !c.to_str().unwrap().contains("Max-Age=0")
    });
    (status, answer.text().await.unwrap(), signed_in)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_its_tenant_in_to_the_customer_routes_only() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_PORTAL_NAME", "Acme Cloud")]).await;
    let api = herald.api();
    let other = api.with_key(OTHER_API_KEY);
    let receiver = Receiver::start().await;
    let theirs = other.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let their_id = theirs["webhook_id"].as_str().unwrap();
    let (status, answer) = other
        .post("/v1/events", json!({"event_type": "job.done", "data": {}}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let their_delivery = other
        .logged_delivery(their_id, "their delivery", |d| d["status"] == "success")
        .await;
    let their_delivery_id = their_delivery["delivery_id"].as_str().unwrap();
    let their_event_id = their_delivery["event_id"].as_str().unwrap();

    let url = link(&api, json!({"ttl": "10m"})).await;
    assert!(
        url.starts_with(&format!("{}/portal/login?token=", herald.base_url)),
        "{url}"
    );
    let browser = Browser::sign_in(&herald.base_url, &url).await;
    let (_, session) = browser.call("GET", "/portal/api/session", None).await;
    assert_eq!(session["tenant"], TENANT);
    assert_eq!(session["read_only"], false);
    assert_eq!(session["theme"]["name"], "Acme Cloud");

    // The customer's routes, for their own tenant.
    let (status, made) = browser
        .call(
            "POST",
            "/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/mine", "events": ["job.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let mine = made["webhook_id"].as_str().unwrap();
    let (status, list) = browser.call("GET", "/v1/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine], "another tenant's webhook is listed");
    let (status, answer) = browser
        .call("GET", &format!("/v1/webhooks/{their_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = browser
        .call("DELETE", &format!("/v1/webhooks/{their_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(
        other.get(&format!("/v1/webhooks/{their_id}")).await.0,
        StatusCode::OK
    );
    // Nor anything under it, or reached by its deliveries' and events' ids.
    for (method, path) in [
        ("GET", format!("/v1/webhooks/{their_id}/deliveries")),
        ("GET", format!("/v1/webhooks/{their_id}/stats?buckets=2")),
        ("GET", format!("/v1/deliveries/{their_delivery_id}")),
        ("GET", format!("/v1/deliveries/{their_delivery_id}/request")),
        ("GET", format!("/v1/events/{their_event_id}")),
        (
            "POST",
            format!("/v1/webhooks/{their_id}/deliveries/{their_delivery_id}/retry"),
        ),
        ("POST", format!("/v1/webhooks/{their_id}/rotate-secret")),
        ("POST", format!("/v1/webhooks/{their_id}/test")),
    ] {
        let (status, answer) = browser.call(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    assert_eq!(
        receiver.received().len(),
        1,
        "another tenant's endpoint was called"
    );
    // A malformed id is not found, as with an API key.
    let (status, answer) = browser.call("GET", "/v1/webhooks/a..b", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // A change without the CSRF value is refused, and nothing changes.
    let (status, answer) = browser
        .request("DELETE", &format!("/v1/webhooks/{mine}"), None, false)
        .await;
    herald_tests::api::assert_error(status, &answer, StatusCode::FORBIDDEN, "csrf");
    assert_eq!(
        api.get(&format!("/v1/webhooks/{mine}")).await.0,
        StatusCode::OK
    );
    // Nor with another session's value, on any method.
    let second = Browser::sign_in(&herald.base_url, &link(&api, json!({})).await).await;
    let stolen = Browser {
        csrf: second.csrf.clone(),
        http: client(),
        base: herald.base_url.clone(),
        cookie: browser.cookie.clone(),
    };
    for (method, path, body) in [
        ("DELETE", format!("/v1/webhooks/{mine}"), None),
        (
            "PUT",
            format!("/v1/webhooks/{mine}"),
            Some(json!({"description": "changed"})),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            Some(json!({"url": "http://127.0.0.1:9/x", "events": ["job.*"]})),
        ),
    ] {
        let (status, answer) = stolen.call(method, &path, body).await;
        herald_tests::api::assert_error(status, &answer, StatusCode::FORBIDDEN, "csrf");
    }
    let (_, unchanged) = api.get(&format!("/v1/webhooks/{mine}")).await;
    assert_eq!(unchanged["description"], "", "{unchanged}");

    // A bad link opened meanwhile leaves the session as it is.
    let bad = client()
        .get(format!("{}/portal/login?token=nothing", herald.base_url))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers().get(SET_COOKIE).is_none());
    assert_eq!(
        browser.call("GET", "/v1/webhooks", None).await.0,
        StatusCode::OK
    );

    // The platform's routes are not the customer's.
    for (method, path, body) in [
        (
            "POST",
            "/v1/events",
            Some(json!({"event_type": "job.done", "data": {}})),
        ),
        ("POST", "/v1/portal/sessions", Some(json!({}))),
        ("GET", "/v1/callback-secret", None),
        ("GET", "/v1/jobs/job_1", None),
        ("GET", "/v1/jobs/job_1/stream", None),
        ("GET", "/v1/stream", None),
        ("POST", "/v1/listen/sessions", Some(json!({}))),
        ("GET", "/v1/listen/sessions/ls_01", None),
    ] {
        let (status, answer) = browser.call(method, path, body).await;
        herald_tests::api::assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    }

    // Logging out makes the browser forget the cookie.
    let answer = browser
        .http
        .post(format!("{}/portal/api/logout", herald.base_url))
        .header(COOKIE, &browser.cookie)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert!(
        answer.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_expired_altered_and_unknown_tokens_see_nothing() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let hook = api.create_webhook("http://127.0.0.1:9/x", &["job.*"]).await;
    let id = hook["webhook_id"].as_str().unwrap();

    // Read-only: reads work, changes do not, CSRF value or not.
    let url = link(&api, json!({"ttl": "5m", "read_only": true})).await;
    let reader = Browser::sign_in(&herald.base_url, &url).await;
    let (_, session) = reader.call("GET", "/portal/api/session", None).await;
    assert_eq!(session["read_only"], true);
    assert_eq!(
        reader
            .call("GET", &format!("/v1/webhooks/{id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    for (method, path) in [
        ("DELETE", format!("/v1/webhooks/{id}")),
        ("POST", format!("/v1/webhooks/{id}/rotate-secret")),
        ("POST", format!("/v1/webhooks/{id}/test")),
    ] {
        let (status, answer) = reader.call(method, &path, None).await;
        herald_tests::api::assert_error(status, &answer, StatusCode::FORBIDDEN, "read_only");
    }
    assert_eq!(
        api.get(&format!("/v1/webhooks/{id}")).await.0,
        StatusCode::OK
    );
    // A webhook's header values (a receiver's credentials, often) are hidden from
    // it, not from the API key.
    let (status, answer) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"headers": {"Authorization": "Bearer receiver-secret"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, seen) = reader
        .call("GET", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(seen["headers"]["Authorization"], "••••••", "{seen}");
    let (_, listed) = reader.call("GET", "/v1/webhooks", None).await;
    assert!(!listed.to_string().contains("receiver-secret"), "{listed}");
    let (_, own) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(own["headers"]["Authorization"], "Bearer receiver-secret");

    // Expired: the link shows the expired page, without data, and sets no session;
    // so does its session's cookie once its time is up.
    let short = link(&api, json!({"ttl": "1s"})).await;
    let browser = Browser::sign_in(&herald.base_url, &short).await;
    let (page, signed_in) =
        herald_tests::eventually(herald_tests::PATIENCE, "the link to expire", || async {
            let (status, page, signed_in) = open(&short).await;
            (status == StatusCode::UNAUTHORIZED).then_some((page, signed_in))
        })
        .await;
    assert!(!signed_in);
    assert!(!page.contains(id), "the expired page shows data");
    let (status, answer) = browser.call("GET", "/v1/webhooks", None).await;
    herald_tests::api::assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _) = browser.call("GET", "/portal/api/session", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Altered: one character changed, or none at all.
    let good = link(&api, json!({})).await;
    let (prefix, token) = good.split_once("token=").unwrap();
    let mut altered = token.to_owned().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = format!("{prefix}token={}", String::from_utf8(altered).unwrap());
    for bad in [
        altered,
        format!("{prefix}token="),
        format!("{}/portal/login", herald.base_url),
    ] {
        let (status, page, signed_in) = open(&bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(!signed_in, "{bad}");
        assert!(!page.contains(id));
    }

    // Another Herald (another HERALD_SECRET_KEY) does not take this one's links.
    let nats_elsewhere = NatsServer::start();
    let elsewhere = Herald::start(
        &nats_elsewhere.url(),
        &[(
            "HERALD_SECRET_KEY",
            "b3RoZXItc2VydmVyLXNlY3JldC1rZXktMzItYnl0ZXM=",
        )],
    )
    .await;
    let foreign = good.replace(&herald.base_url, &elsewhere.base_url);
    assert_eq!(open(&foreign).await.0, StatusCode::UNAUTHORIZED);

    // A made-up cookie is no session; a cookie of another name is ignored.
    for cookie in ["__Host-herald-portal=made-up", "theme=dark"] {
        let answer = client()
            .get(format!("{}/v1/webhooks", herald.base_url))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{cookie}");
    }

    // The ttl is bounded by HERALD_PORTAL_MAX_TTL (24h by default).
    for ttl in ["0s", "25h", "soon"] {
        let (status, answer) = api.post("/v1/portal/sessions", json!({"ttl": ttl})).await;
        herald_tests::api::assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_pages_come_from_herald_under_a_strict_policy() {
    let nats = NatsServer::start();
    let logo = tempfile::Builder::new().suffix(".svg").tempfile().unwrap();
    std::fs::write(logo.path(), r#"<svg xmlns="http://www.w3.org/2000/svg"/>"#).unwrap();
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_PORTAL_COLOR", "#0F766E"),
            ("HERALD_PORTAL_LOGO", logo.path().to_str().unwrap()),
            ("HERALD_PORTAL_URL", "https://hooks.example.com/"),
        ],
    )
    .await;
    let http = client();
    let get = |path: &str| http.get(format!("{}{path}", herald.base_url)).send();

    let page = get("/portal/").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(rule), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = page.text().await.unwrap();
    // Every script and style the page names is Herald's own.
    for line in html
        .lines()
        .filter(|l| l.contains("src=") || l.contains("href="))
    {
        assert!(
            !line.contains("http://") && !line.contains("https://"),
            "{line}"
        );
    }
    let theme = get("/portal/theme.css")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(theme.contains("--brand: #0f766e"), "{theme}");
    let logo = get("/portal/logo").await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        get("/portal/assets/nothing.js").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Links start with HERALD_PORTAL_URL.
    let url = link(&herald.api(), json!({})).await;
    assert!(
        url.starts_with("https://hooks.example.com/portal/login?token="),
        "{url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_filter_by_event_type_and_stats_come_in_spans() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let hook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = hook["webhook_id"].as_str().unwrap();
    // Data whose bytes a parse and re-encode would change: keys out of order,
    // spaces, an integer beyond 64 bits, a float written long.
    let data = r#"{ "zeta": 1, "alpha": 123456789012345678901234567890, "pi": 3.140000 }"#;
    for event_type in ["job.started", "job.completed", "job.completed"] {
        let body = format!(r#"{{"event_type": "{event_type}", "data": {data}}}"#);
        let (status, answer) = api
            .raw("POST", "/v1/events", "application/json", body.into_bytes())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    api.get_when(
        &format!("/v1/webhooks/{id}/deliveries?status=success"),
        "three successful deliveries",
        |page| page["deliveries"].as_array().is_some_and(|d| d.len() == 3),
    )
    .await;

    let (status, page) = api
        .get(&format!(
            "/v1/webhooks/{id}/deliveries?event_type=job.completed"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let types: Vec<&str> = page["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["job.completed", "job.completed"]);
    let (status, answer) = api
        .get(&format!(
            "/v1/webhooks/{id}/deliveries?event_type=not%20a%20type"
        ))
        .await;
    herald_tests::api::assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );

    let stats = api
        .get_when(
            &format!("/v1/webhooks/{id}/stats?window=1h&buckets=6"),
            "three attempts counted",
            |stats| stats["attempts"] == 3,
        )
        .await;
    let series = stats["series"].as_array().unwrap();
    assert_eq!(series.len(), 6);
    let in_spans: u64 = series.iter().map(|s| s["attempts"].as_u64().unwrap()).sum();
    assert_eq!(in_spans, 3, "{stats}");
    // The attempts were just made: they are in the last span.
    assert_eq!(series[5]["attempts"], 3, "{stats}");
    assert_eq!(series[5]["success_rate"], 1.0, "{stats}");
    assert!(
        series.windows(2).all(|w| w[0]["end"] == w[1]["start"]),
        "{stats}"
    );
    // Each span counts as a request against the key's rate.
    // (A Herald of its own broker: on one broker two Heralds share their work.)
    let nats_limited = NatsServer::start();
    let limited = Herald::start(&nats_limited.url(), &[("HERALD_API_RATE_LIMIT", "20")]).await;
    let hook = limited
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let path = format!(
        "/v1/webhooks/{}/stats?buckets=40",
        hook["webhook_id"].as_str().unwrap()
    );
    let (status, answer) = limited.api().get(&path).await;
    herald_tests::api::assert_error(
        status,
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    for buckets in ["0", "49"] {
        let (status, answer) = api
            .get(&format!("/v1/webhooks/{id}/stats?buckets={buckets}"))
            .await;
        herald_tests::api::assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
    }
    // Without `buckets` there is no series.
    let (_, plain) = api.get(&format!("/v1/webhooks/{id}/stats")).await;
    assert!(plain.get("series").is_none(), "{plain}");

    // The request made again for a delivery is the one the receiver got.
    let delivery = &page["deliveries"][0];
    let (status, request) = api
        .get(&format!(
            "/v1/deliveries/{}/request",
            delivery["delivery_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{request}");
    let event_id = delivery["event_id"].as_str().unwrap();
    let received = receiver
        .received()
        .into_iter()
        .find(|r| r.header("webhook-id") == Some(event_id))
        .expect("the receiver got the delivery");
    assert_eq!(request["method"], "POST");
    assert!(
        request["body"].as_str().unwrap().contains(data),
        "{request}"
    );
    assert_eq!(request["url"], receiver.url("/"));
    assert_eq!(
        request["body"].as_str().unwrap().as_bytes(),
        &received.body[..]
    );
    for name in [
        "webhook-id",
        "webhook-timestamp",
        "x-webhook-id",
        "content-type",
    ] {
        assert_eq!(
            request["headers"][name].as_str(),
            received.header(name),
            "{name}: {request}"
        );
    }
    assert!(
        request["headers"]["webhook-signature"].is_string(),
        "{request}"
    );
}
