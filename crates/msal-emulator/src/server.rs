//! Start-up and the public handle of a running emulator.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::config::{AppConfig, EmulatorConfig, UserConfig};
use crate::faults::{FaultId, FaultRule};
use crate::shared::{ArcKeyDir, RequestLog, Shared, lock};
use crate::state::State;
use crate::wire::RecordedRequest;

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Binds `127.0.0.1` on an ephemeral port and serves in a background tokio task.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, std::io::Error> {
        Self::start_on(config, 0).await
    }

    /// Binds `127.0.0.1:port` (0 = ephemeral) and serves plain HTTP in a background task.
    pub async fn start_on(
        config: EmulatorConfig,
        port: u16,
    ) -> Result<EmulatorHandle, std::io::Error> {
        Self::start_inner(config, port, None).await
    }

    /// Binds `127.0.0.1:port` (0 = ephemeral) and serves HTTPS with a certificate for
    /// `127.0.0.1`, `localhost` and `::1` signed by a newly generated CA, whose PEM is written
    /// to `ca_pem_path`.
    pub async fn start_tls(
        config: EmulatorConfig,
        port: u16,
        ca_pem_path: &Path,
    ) -> Result<EmulatorHandle, std::io::Error> {
        let material = crate::crypto::generate_tls_material().map_err(std::io::Error::other)?;
        std::fs::write(ca_pem_path, &material.ca_pem)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(material.chain, material.key)
            .map_err(std::io::Error::other)?;
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::start_inner(config, port, Some(Arc::new(server_config))).await
    }

    async fn start_inner(
        config: EmulatorConfig,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<EmulatorHandle, std::io::Error> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (key, federation_key, sf_tls) = tokio::task::spawn_blocking(|| {
            Ok::<_, String>((
                crate::crypto::signing_key()?,
                crate::crypto::federation_key()?,
                crate::crypto::generate_self_signed_tls()?,
            ))
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
        let arc_dir = ArcKeyDir::new(config.options.arc_key_dir.as_deref())?;
        let state = State::new(&config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let base_url = base_url(
            tls.is_some(),
            addr.port(),
            config.options.public_url.as_deref(),
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let base = base_url.to_string();
        let admin_token = config
            .options
            .admin_token
            .clone()
            .unwrap_or_else(|| crate::state::random_token(24));
        let shared = Arc::new(Shared {
            base: base.clone(),
            port: addr.port(),
            admin_token,
            key,
            federation_key,
            arc_dir,
            state: Mutex::new(state),
            log: Mutex::new(RequestLog::new(config.options.request_log_capacity)),
        });
        let app =
            crate::router::app(shared.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let server_handle = axum_server::Handle::new();
        let task = match tls {
            None => {
                let server = axum_server::from_tcp(listener)?.handle(server_handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("msal-emulator server stopped: {e}");
                    }
                })
            }
            Some(cfg) => {
                let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(cfg);
                let server = axum_server::tls_rustls::from_tcp_rustls(listener, rustls_config)?
                    .handle(server_handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("msal-emulator server stopped: {e}");
                    }
                })
            }
        };
        let (sf_handle, sf_task, sf_port) = Self::serve_service_fabric(&shared, &sf_tls)?;
        Ok(EmulatorHandle {
            shared,
            base_url,
            server: server_handle,
            task: Some(task),
            service_fabric: ServiceFabricListener {
                endpoint: format!("https://127.0.0.1:{sf_port}/msi/service-fabric/token"),
                thumbprint: sf_tls.thumbprint,
                certificate_pem: sf_tls.cert_pem,
                server: sf_handle,
                task: Some(sf_task),
            },
        })
    }

    /// Serves the Service Fabric managed identity endpoint on its own HTTPS listener (an
    /// ephemeral port of 127.0.0.1) with a self-signed certificate, as Service Fabric does.
    fn serve_service_fabric(
        shared: &Arc<Shared>,
        tls: &crate::crypto::SelfSignedTls,
    ) -> Result<
        (
            axum_server::Handle<SocketAddr>,
            tokio::task::JoinHandle<()>,
            u16,
        ),
        std::io::Error,
    > {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![tls.cert.clone()], tls.key.clone_key())
            .map_err(std::io::Error::other)?;
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let app = crate::router::service_fabric_app(shared.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let rustls_config =
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(server_config));
        let server = axum_server::tls_rustls::from_tcp_rustls(listener, rustls_config)?
            .handle(handle.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = server.serve(app).await {
                tracing::error!("msal-emulator Service Fabric listener stopped: {e}");
            }
        });
        Ok((handle, task, port))
    }
}

/// The Service Fabric listener of a running emulator.
struct ServiceFabricListener {
    endpoint: String,
    thumbprint: String,
    certificate_pem: String,
    server: axum_server::Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The base URL every URL the emulator serves or prints starts with: `public_url` when
/// configured, else `{scheme}://127.0.0.1:{port}/`. A default port (443 for https, 80 for
/// http) is left out, as WHATWG URL parsers (msal-node's, browsers') leave it out: an issuer
/// with `:443` would not match the authority they normalized.
pub(crate) fn base_url(tls: bool, port: u16, public_url: Option<&str>) -> Result<url::Url, String> {
    if let Some(u) = public_url {
        return crate::config::public_base_url(u);
    }
    let scheme = if tls { "https" } else { "http" };
    let mut u = url::Url::parse(&format!("{scheme}://127.0.0.1/")).map_err(|e| e.to_string())?;
    // `set_port` drops the scheme's default port.
    u.set_port(Some(port))
        .map_err(|()| "no port for this URL".to_string())?;
    Ok(u)
}

/// A running emulator. Dropping it (or [`EmulatorHandle::shutdown`]) stops the server.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: axum_server::Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
    service_fabric: ServiceFabricListener,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234/` (with trailing slash; without the port
    /// when it is the scheme's default), or the configured `public_url`.
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The port the emulator listens on (`base_url` may name another, see `public_url`).
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The authority URL of a tenant, e.g. `http://127.0.0.1:41234/<tenant>` (no trailing
    /// slash).
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}{}", self.shared.base, tenant.trim_matches('/'))
    }

    /// The token endpoint of a tenant.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/oauth2/v2.0/token", self.authority(tenant))
    }

    /// The bearer token of the `/_emulator/` admin API.
    pub fn admin_token(&self) -> &str {
        &self.shared.admin_token
    }

    /// Installs a fault rule (same as `POST /_emulator/faults`).
    pub fn add_fault(&self, rule: FaultRule) -> FaultId {
        self.shared.st().add_fault(rule)
    }

    /// Removes one fault rule; false when no rule had that id.
    pub fn remove_fault(&self, id: FaultId) -> bool {
        let mut st = self.shared.st();
        let before = st.faults.len();
        st.faults.retain(|f| f.id != id);
        st.faults.len() != before
    }

    /// The installed fault rules with their ids and remaining counts (`None`: unlimited).
    pub fn faults(&self) -> Vec<(FaultId, FaultRule, Option<u32>)> {
        self.shared
            .st()
            .faults
            .iter()
            .map(|f| (f.id, f.rule.clone(), f.remaining))
            .collect()
    }

    /// Makes the sample API (`/api/me`) demand the claims challenge from every user (same as
    /// `POST /_emulator/settings {"api_claims_challenge": on}`).
    pub fn set_api_claims_challenge(&self, on: bool) {
        self.shared.st().options.api_claims_challenge = on;
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.st().faults.clear();
    }

    /// Every request received (except the admin API's) and its answer, oldest first, as sent
    /// on the wire: secrets included, so that the process that configured them can assert
    /// what a client sent. The admin API (`GET /_emulator/requests`) serves
    /// [`RecordedRequest::redacted`] copies instead.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).entries.iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).entries.clear();
    }

    /// Approves a pending device code as this user (as if they signed in on the page).
    pub fn approve_device_code(&self, user_code: &str, username: &str) -> Result<(), String> {
        self.shared.st().approve_device_code(user_code, username)
    }

    /// Denies a pending device code.
    pub fn deny_device_code(&self, user_code: &str) -> Result<(), String> {
        self.shared.st().deny_device_code(user_code)
    }

    /// Invalidates every refresh token (and sign-in session) of a user.
    pub fn revoke_refresh_tokens(&self, username: &str) {
        self.shared.st().revoke_refresh_tokens(username)
    }

    /// Adds or replaces a user (e.g. to flip `mfa_required`). A user naming an unknown
    /// tenant is ignored (and logged).
    pub fn set_user(&self, user: UserConfig) {
        if let Err(e) = self.shared.st().upsert_user(user) {
            tracing::warn!("set_user refused: {e}");
        }
    }

    /// Adds or replaces an app registration.
    pub fn set_app(&self, app: AppConfig) -> Result<(), String> {
        self.shared.st().upsert_app(app)
    }

    /// The base URL without its trailing slash, e.g. `http://127.0.0.1:41234`: the value of
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` (IMDS), `IMDS_ENDPOINT` (Azure Arc) and
    /// `AZURE_AUTHORITY_HOST` (workload identity).
    pub fn base_url_no_slash(&self) -> String {
        self.shared.base.trim_end_matches('/').to_string()
    }

    /// IMDS's token endpoint: `{base}metadata/identity/oauth2/token`.
    pub fn imds_endpoint(&self) -> String {
        format!("{}metadata/identity/oauth2/token", self.shared.base)
    }

    /// App Service's `IDENTITY_ENDPOINT`: `{base}msi/app-service/token`.
    pub fn app_service_endpoint(&self) -> String {
        format!("{}msi/app-service/token", self.shared.base)
    }

    /// Azure ML's `MSI_ENDPOINT`: `{base}msi/azure-ml/token`.
    pub fn azure_ml_endpoint(&self) -> String {
        format!("{}msi/azure-ml/token", self.shared.base)
    }

    /// Cloud Shell's `MSI_ENDPOINT`: `{base}msi/cloud-shell/token`.
    pub fn cloud_shell_endpoint(&self) -> String {
        format!("{}msi/cloud-shell/token", self.shared.base)
    }

    /// Azure Arc's `IDENTITY_ENDPOINT`: `{base}msi/arc/token`.
    pub fn arc_endpoint(&self) -> String {
        format!("{}msi/arc/token", self.shared.base)
    }

    /// The directory Azure Arc's challenge key files are written in.
    pub fn arc_key_dir(&self) -> &Path {
        &self.shared.arc_dir.path
    }

    /// Service Fabric's `IDENTITY_ENDPOINT`, on its own HTTPS listener:
    /// `https://127.0.0.1:PORT/msi/service-fabric/token`.
    pub fn service_fabric_endpoint(&self) -> &str {
        &self.service_fabric.endpoint
    }

    /// The SHA-1 thumbprint (upper-case hex) of the Service Fabric listener's self-signed
    /// certificate: `IDENTITY_SERVER_THUMBPRINT`.
    pub fn service_fabric_thumbprint(&self) -> &str {
        &self.service_fabric.thumbprint
    }

    /// The Service Fabric listener's certificate (PEM), for clients that trust it as a root.
    pub fn service_fabric_certificate_pem(&self) -> &str {
        &self.service_fabric.certificate_pem
    }

    /// The secret of the App Service (`X-IDENTITY-HEADER`), Service Fabric and Azure ML
    /// (`secret`) sources: `IDENTITY_HEADER` and `MSI_SECRET`.
    pub fn identity_header(&self) -> String {
        self.shared.st().options.identity_header_secret.clone()
    }

    /// The service account issuer's URL, `{base}federation`: the issuer of the federated
    /// credentials that accept [`EmulatorHandle::service_account_token`]s.
    pub fn federation_issuer(&self) -> String {
        self.shared.federation_issuer()
    }

    /// A service account token of the emulator's issuer for `sub`
    /// (`system:serviceaccount:<namespace>:<name>`) and `aud`, valid `lifetime_secs` from now
    /// (negative: already expired), as a Kubernetes cluster projects into
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub fn service_account_token(
        &self,
        sub: &str,
        aud: &str,
        lifetime_secs: i64,
    ) -> Result<String, String> {
        crate::identity::sign_service_account_token(&self.shared, sub, aud, lifetime_secs)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.server.shutdown();
        self.service_fabric.server.shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.service_fabric.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.server.shutdown();
        self.service_fabric.server.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn base_url_leaves_out_default_ports() {
        let b = |tls, port, public| base_url(tls, port, public).unwrap().to_string();
        assert_eq!(b(true, 443, None), "https://127.0.0.1/");
        assert_eq!(b(false, 80, None), "http://127.0.0.1/");
        assert_eq!(b(true, 80, None), "https://127.0.0.1:80/");
        assert_eq!(b(false, 443, None), "http://127.0.0.1:443/");
        assert_eq!(b(true, 41234, None), "https://127.0.0.1:41234/");
        // The configured public URL wins over the listening port, and is normalized the same.
        assert_eq!(
            b(true, 41234, Some("https://127.0.0.1:443")),
            "https://127.0.0.1/"
        );
        assert_eq!(
            b(false, 41234, Some("HTTP://Login.Example.test:80/")),
            "http://login.example.test/"
        );
        assert_eq!(
            b(false, 1, Some("https://idp.test:8443")),
            "https://idp.test:8443/"
        );
        for bad in [
            "ftp://idp.test/",
            "https://idp.test/tenant",
            "https://idp.test/?a=1",
            "https://u:p@idp.test/",
            "not a url",
        ] {
            assert!(base_url(true, 1, Some(bad)).is_err(), "{bad}");
        }
    }
}
