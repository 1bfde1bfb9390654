//! nginx (Debian's, 1.22) as the reference for differential tests: started in the foreground
//! with a generated configuration in a temporary prefix (its pid, logs and temporary files all
//! there), on a free port, and stopped by PID on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::server::TempDir;

pub const NGINX: &str = "/usr/sbin/nginx";

pub struct Nginx {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// nginx with one server whose block holds `server` (its `listen` is added), in a prefix
    /// holding `files`.
    pub fn start(server: &str, files: &[(&str, &[u8])]) -> Nginx {
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = TempDir::new();
            for (name, contents) in files {
                dir.write(name, contents);
            }
            dir.write("tmp/", b"");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let prefix = dir.path().display().to_string();
            // SAFETY: geteuid(2) has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            // As root, nginx's workers would otherwise run as nobody, who cannot reach the
            // test's files and sockets.
            let user = if root { "user root;" } else { "" };
            let conf = format!(
                "worker_processes 1;\n{user}\npid {prefix}/nginx.pid;\n\
                 error_log {prefix}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n\
                   access_log off;\n\
                   client_body_temp_path {prefix}/tmp/body;\n\
                   fastcgi_temp_path {prefix}/tmp/fastcgi;\n\
                   proxy_temp_path {prefix}/tmp/proxy;\n\
                   uwsgi_temp_path {prefix}/tmp/uwsgi;\n\
                   scgi_temp_path {prefix}/tmp/scgi;\n\
                   include /etc/nginx/mime.types;\n\
                   default_type application/octet-stream;\n\
                   server {{\n listen 127.0.0.1:{port};\n{server}\n}}\n\
                 }}\n"
            );
            let conf_path = dir.write("nginx.conf", conf.as_bytes());
            let mut child = Command::new(NGINX)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .args(["-g", "daemon off;"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx (apt-get install nginx)");
            let deadline = Instant::now() + Duration::from_secs(10);
            let ready = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("exited with {status}"));
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break Ok(());
                }
                if Instant::now() > deadline {
                    break Err("not listening after 10 s".to_string());
                }
                thread::sleep(Duration::from_millis(20));
            };
            match ready {
                Ok(()) => return Nginx { dir, port, child },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = format!(
                        "{e}: {}",
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                    );
                }
            }
        }
        panic!("nginx did not start: {last}");
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT would wait for connections; SIGTERM is nginx's fast shutdown.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
