//! TLS to PostgreSQL: a server of the test's own with `ssl = on`, a certificate from a test
//! CA, and a `pg_hba.conf` that admits TLS connections only.

use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair};
use tollgate_core::store::MetaStore;
use tollgate_store_postgres::testing::{Server, test_ca as ca};
use tollgate_store_postgres::{PostgresStore, Timeouts};

/// Turns TLS on with a certificate for `localhost` (and no address) that `ca` signed, and
/// refuses every connection without TLS.
async fn serve_tls_only(server: &Server, ca: &CertifiedIssuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let (cert_path, key_path) = (server.dir().join("server.crt"), server.dir().join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    server.give_to_server(&cert_path);
    server.give_to_server(&key_path);
    // Written over the existing file, which the server owns; read at the reload below.
    std::fs::write(server.dir().join("data/pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
        .unwrap();
    server.execute(&format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_path.display())).await;
    server.execute(&format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_path.display())).await;
    server.execute("ALTER SYSTEM SET ssl = on").await;
    server.execute("SELECT pg_reload_conf()").await;
}

async fn works(url: &str) -> Result<(), String> {
    let store = PostgresStore::open(url, Timeouts::default()).await.map_err(|e| e.to_string())?;
    store.meta("bootstrapped_at").await.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_store_talks_tls_when_the_url_asks_and_verify_full_checks_the_ca_and_the_name() {
    let server = tollgate_store_postgres::testing::own_server();
    let client_dir = tempfile::tempdir().unwrap();
    let test_ca = ca(client_dir.path(), "test-ca");
    ca(client_dir.path(), "other-ca");
    serve_tls_only(&server, &test_ca).await;
    let port = server.port;
    let test_ca_pem = client_dir.path().join("test-ca.pem");
    let other_ca_pem = client_dir.path().join("other-ca.pem");

    let plain = works(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).await;
    assert!(plain.as_ref().is_err_and(|e| e.contains("no pg_hba.conf entry")), "without TLS: {plain:?}");

    works(&format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require")).await.unwrap();
    works(&format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        test_ca_pem.display()
    ))
    .await
    .unwrap();

    let wrong_name = works(&format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        test_ca_pem.display()
    ))
    .await;
    assert!(wrong_name.as_ref().is_err_and(|e| e.contains("not valid for name")), "{wrong_name:?}");
    let wrong_ca = works(&format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        other_ca_pem.display()
    ))
    .await;
    assert!(wrong_ca.as_ref().is_err_and(|e| e.contains("UnknownIssuer")), "{wrong_ca:?}");
    let no_roots = works(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full")).await;
    assert!(no_roots.as_ref().is_err_and(|e| e.contains("needs sslrootcert")), "{no_roots:?}");
    let unknown = works(&format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-ca")).await;
    assert!(unknown.as_ref().is_err_and(|e| e.contains("sslmode=verify-ca")), "{unknown:?}");
}
