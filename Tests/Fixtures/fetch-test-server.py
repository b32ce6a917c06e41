#!/usr/bin/python3
# The HTTP(S) server of rkt's fetch tests (Tests/RktFetchTests/TestServer.swift, Tests/IntegrationTests/FetchTests.swift).
# usage: fetch-test-server.py ROOT PORTFILE LOGFILE [CERT KEY]
# Serves ROOT on 127.0.0.1 (random port, written to PORTFILE) with a strong ETag, If-None-Match -> 304,
# Range/If-Range -> 206, HEAD, extra headers from FILE.headers, `?ac-discovery=1` pages from
# PATH/.discovery.html, and hooks: /truncate/P (always cut halfway), /truncate-once/P (cut unless
# resumed with Range), /redirect/P (relative 302), /redirect-abs/P (absolute 301), /chunked/P.
# Every request is logged as "METHOD PATH STATUS RANGE" to LOGFILE.
import hashlib, http.server, os, ssl, sys, threading
root, portfile, logfile = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def record(self, status):
        with lock:
            with open(logfile, "a") as f:
                f.write("%s %s %d %s\n" % (self.command, self.path, status, self.headers.get("Range", "-")))
    def send_plain(self, status, text=b"", extra=None):
        self.record(status)
        self.send_response(status)
        for k, v in (extra or {}).items(): self.send_header(k, v)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(text)
    def do_HEAD(self): self.do_GET()
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if "ac-discovery=1" in query.split("&"):
            f = os.path.join(root, path.lstrip("/"), ".discovery.html")
            if os.path.isfile(f):
                return self.send_plain(200, open(f, "rb").read(), {"Content-Type": "text/html"})
            return self.send_plain(404, b"no discovery here\n")
        mode = None
        for hook in ("truncate-once", "truncate", "redirect-abs", "redirect", "chunked"):
            if path.startswith("/" + hook + "/"):
                mode, path = hook, path[len(hook) + 1:]
                break
        if mode == "redirect":
            return self.send_plain(302, b"", {"Location": path})  # a relative reference (no scheme or host)
        if mode == "redirect-abs":
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            return self.send_plain(301, b"", {"Location": "%s://127.0.0.1:%d%s" % (scheme, self.server.server_port, path)})
        f = os.path.join(root, path.lstrip("/"))
        if not os.path.isfile(f) or f.endswith(".headers"):
            return self.send_plain(404, b"not found\n")
        data = open(f, "rb").read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:24]
        extra = {"ETag": etag}
        if os.path.isfile(f + ".headers"):
            for line in open(f + ".headers"):
                k, _, v = line.strip().partition(": ")
                if k: extra[k] = v
        if self.headers.get("If-None-Match") == etag:
            return self.send_plain(304, b"", extra)
        status, body = 200, data
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            rng = None  # the partial copy is of another version: send everything
        if rng and mode == "truncate-once":
            mode = None  # the retry after a cut gets the rest properly
        if rng and rng.startswith("bytes=") and rng.endswith("-") and mode is None:
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send_plain(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            status, body = 206, data[start:]
            extra["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        self.record(status)
        self.send_response(status)
        for k, v in extra.items(): self.send_header(k, v)
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD": return
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD": return
        if mode in ("truncate", "truncate-once"):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address): pass

def exit_with_parent(parent):
    # A test runner killed mid-test never stops us: leave when our parent goes.
    import time
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()

server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f: f.write(str(server.server_port))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
