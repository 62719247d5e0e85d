"""Start examples/retrain_webhook.py the way its docstring says: uvicorn, configured by env vars."""

from pathlib import Path

from tests.conftest import BIN, EXAMPLES, ModelServer, clean_env, free_port, launch_server


def launch_retrain_webhook(tmp_path: Path, token: str) -> tuple[ModelServer, Path]:
    queue = tmp_path / "retrain" / "requests.jsonl"
    port = free_port()
    args = [str(BIN / "uvicorn"), "--factory", "retrain_webhook:app_from_environment"]
    args += ["--app-dir", str(EXAMPLES), "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    env = clean_env(MODELTEL_RETRAIN_TOKEN=token, MODELTEL_RETRAIN_QUEUE=str(queue))
    return launch_server(tmp_path, args, env, port, name="retrain-webhook"), queue
