//! Signing in on the emulator's pages over plain HTTP, as a browser without script would, for
//! the tests of the web-app (authorization code) flow.

use url::Url;

/// The value of the hidden input `name` of an HTML form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden input") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Opens the authorize URL and signs in on the emulator's page like a browser without script
/// would: GET the page, POST the form. Returns where the emulator redirects to.
pub async fn sign_in_on_the_pages(auth_uri: &str, username: &str, password: &str) -> Url {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(auth_uri).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"username\"") && html.contains("id=\"password\""));
    let action = Url::parse(auth_uri)
        .unwrap()
        .join(&hidden_action(&html))
        .unwrap();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("txn", &hidden(&html, "txn"))
        .append_pair("step", "login")
        .append_pair("username", username)
        .append_pair("password", password)
        .finish();
    let answer = http
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
}

fn hidden_action(html: &str) -> String {
    let start = html.find("action=\"").unwrap() + "action=\"".len();
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}
