//! A real S3 server for the object-store tests: moto's `moto_server`, installed by the tests
//! themselves into `target/ci-venvs/s3` (a venv, from `.ci/s3-requirements.txt`) when it is not
//! there, and started once per test binary on a free port. It stops when the test binary
//! exits: it is started under a shell that kills it once the binary's end of a pipe closes.
//!
//! The tests' own reads of the bucket (objects, the checkpoint, open uploads) go through
//! `object_store` or plain HTTP, as an S3 client would.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

/// The access key the tests give; moto takes any.
pub const ACCESS_KEY: &str = "AKIATESTS3ACCESSKEY1";
/// The secret key the tests give: it must never appear in what xp-export prints or stores.
pub const SECRET_KEY: &str = "tEsTsEcReT+KeY/0123456789abcdefGHIJKLmnop";
/// The session token the tests give, a secret too.
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789";

/// The running server.
pub struct S3 {
    pub port: u16,
    _guard: Child,
}

/// The server of this test binary, started on first use.
pub fn server() -> &'static S3 {
    static SERVER: OnceLock<S3> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `moto_server`, installed first if it is not there. Test processes that start at once
/// (nextest) install it once: the first makes a lock directory, the others wait for it to go.
fn moto_server() -> PathBuf {
    let venv = root().join("target/ci-venvs/s3");
    let bin = venv.join("bin/moto_server");
    let lock = root().join("target/ci-venvs/.s3-installing");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if bin.exists() && !lock.exists() {
            return bin;
        }
        std::fs::create_dir_all(root().join("target/ci-venvs")).unwrap();
        if std::fs::create_dir(&lock).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} stayed: remove it",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        && run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root().join(".ci/s3-requirements.txt")));
    let _ = std::fs::remove_dir(&lock);
    assert!(
        made && bin.exists(),
        "installing moto (.ci/s3-requirements.txt) into {} failed: the object-store tests \
         need Python 3 and the package index",
        venv.display()
    );
    bin
}

fn start() -> S3 {
    let bin = moto_server();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The shell starts moto, then waits on its standard input: when this process exits, the
    // pipe closes and the shell kills moto.
    let guard = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"#)
        .arg(&bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    S3 {
        port,
        _guard: guard,
    }
}

impl S3 {
    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its address, for a proxy in front of it.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A new bucket of its own for one test.
    pub fn bucket(&self, name: &str) -> String {
        let bucket = format!("{name}-{:08x}", fastrand::u32(..)).replace('_', "-");
        let status = self.http("PUT", &format!("/{bucket}"));
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        bucket
    }

    /// The environment xp-export reads S3 from, pointed at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// A client of `bucket` for the tests' own reads.
    pub fn client(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap()
    }

    /// The object's bytes, `None` when it is not there.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self.client(bucket).get(&Key::parse(key).unwrap()).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Every key in the bucket, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let mut keys: Vec<String> = self
            .client(bucket)
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// Puts `bytes` at `key`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let payload = bytes.to_vec().into();
        self.client(bucket)
            .put(&Key::parse(key).unwrap(), payload)
            .await
            .unwrap();
    }

    /// The multipart uploads open in the bucket (their keys): none is left after an export.
    pub fn open_uploads(&self, bucket: &str) -> Vec<String> {
        let answer = self.http("GET", &format!("/{bucket}?uploads"));
        answer
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// One plain HTTP request; the whole answer.
    fn http(&self, method: &str, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    }
}
