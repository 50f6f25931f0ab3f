"""A TCP proxy for tests that can cut every connection and refuse new ones, while the target stays up."""
import socket
import threading


class Proxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.blocked = False
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        self.go = threading.Event()  # cleared by hold(): new connections wait before reaching the target
        self.go.set()
        self.flowing = threading.Event()  # cleared by freeze(): open connections carry nothing, stay open
        self.flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.blocked:
                client.close()
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        self.go.wait()
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with self.lock:
            self.conns += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def block(self):
        """Cut every open connection and refuse new ones."""
        self.blocked = True
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def unblock(self):
        self.blocked = False

    def freeze(self):
        """Carry nothing more on any connection, open or new, but close none: a network path that
        drops every packet while both ends think the connection is up."""
        self.go.clear()
        self.flowing.clear()

    def thaw(self):
        self.flowing.set()
        self.go.set()

    def hold(self):
        """Accept new connections but let nothing through them until release(): a target that hangs."""
        self.go.clear()

    def release(self):
        self.go.set()

    def close(self):
        self.closed = True
        self.go.set()
        self.flowing.set()
        self.block()
        self.listener.close()
