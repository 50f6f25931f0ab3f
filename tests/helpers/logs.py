"""Capture twisted.logger events during a test."""
from twisted.logger import formatEvent, globalLogPublisher


class Logged:
    def __enter__(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        return self

    def __exit__(self, *a):
        globalLogPublisher.removeObserver(self.events.append)

    def lines(self, namespace: str, level: str | None = None) -> list[str]:
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == namespace
                and (level is None or e["log_level"].name == level)]

    def warnings(self, namespace: str = "skydns.plugin.etcd") -> list[str]:
        return self.lines(namespace, "warn")

    def everything(self) -> list[str]:
        """Every line logged, of every namespace, with the traceback of each failure logged."""
        out = []
        for e in self.events:
            text = formatEvent(e) or ""
            failure = e.get("log_failure")
            if failure is not None:
                text += "\n" + failure.getTraceback()
            out.append(text)
        return out

    def text(self) -> str:
        return "\n".join(self.everything())
