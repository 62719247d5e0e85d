#!/bin/sh
# Start Alertmanager with its secrets taken from the environment. Alertmanager 0.25 does not
# expand environment variables in its config; it reads secrets from the *_file fields of
# alertmanager.yml. This writes each variable to its file (mode 600) and then runs the command
# given, e.g.  entrypoint.sh /bin/alertmanager --config.file=/etc/alertmanager/alertmanager.yml
#   MODELTEL_ALERT_SLACK_API_URL  -> $MODELTEL_ALERT_SECRETS_DIR/slack_api_url
#   MODELTEL_ALERT_SMTP_PASSWORD  -> $MODELTEL_ALERT_SECRETS_DIR/smtp_password
#   MODELTEL_ALERT_WEBHOOK_TOKEN  -> $MODELTEL_ALERT_SECRETS_DIR/webhook_token
# MODELTEL_ALERT_SECRETS_DIR defaults to /etc/alertmanager/secrets (in compose: a tmpfs, so the
# secrets never reach a disk). A variable that is unset leaves a file that exists but is empty,
# and the script says so: that channel's notifications then fail, visibly, in Alertmanager.
set -eu
dir="${MODELTEL_ALERT_SECRETS_DIR:-/etc/alertmanager/secrets}"
umask 077
mkdir -p "$dir"
write_secret() {
    if [ -z "$2" ]; then
        echo "entrypoint: $1 is not set; notifications that need $dir/$3 will fail" >&2
    fi
    printf '%s' "$2" > "$dir/$3"
}
write_secret MODELTEL_ALERT_SLACK_API_URL "${MODELTEL_ALERT_SLACK_API_URL:-}" slack_api_url
write_secret MODELTEL_ALERT_SMTP_PASSWORD "${MODELTEL_ALERT_SMTP_PASSWORD:-}" smtp_password
write_secret MODELTEL_ALERT_WEBHOOK_TOKEN "${MODELTEL_ALERT_WEBHOOK_TOKEN:-}" webhook_token
exec "$@"
