#!/bin/bash
# The container's entrypoint: coturn and parlor-signal side by side, with
# the one TURN secret they share. Arguments go to parlor-signal (which also
# reads every PARLOR_SIGNAL_* variable). When either process ends, the other
# is stopped and the container exits: non-zero unless it was told to stop.
#
#   PARLOR_TURN_SECRET_FILE  the secret (default /run/secrets/turn-secret,
#                            where `podman run --secret turn-secret` and
#                            Docker secrets put it)
#   TURN_EXTERNAL_IP         the public address behind 1:1 NAT, if any
#                            (coturn's external-ip, "public" or
#                            "public/private")
set -uo pipefail

secret_file=${PARLOR_TURN_SECRET_FILE:-/run/secrets/turn-secret}
if [[ ! -r $secret_file ]]; then
    echo "entrypoint: cannot read the TURN secret $secret_file; mount one (see README)" >&2
    exit 64
fi
secret=$(<"$secret_file")
# As parlor-signal reads it: trailing line breaks are no part of it.
while [[ $secret == *[$'\r\n'] ]]; do secret=${secret%?}; done
if [[ ! $secret =~ ^[A-Za-z0-9._~+/=-]+$ ]]; then
    echo "entrypoint: the TURN secret in $secret_file must be one line of letters, digits and ._~+/=- (e.g. openssl rand -hex 32)" >&2
    exit 64
fi

# coturn gets the secret in a private copy of its configuration rather
# than on its command line, which every process could read.
runtime=$(mktemp -d)
install -m 600 /etc/turnserver.conf "$runtime/turnserver.conf"
printf '\nstatic-auth-secret=%s\n' "$secret" >>"$runtime/turnserver.conf"
unset secret

coturn_args=(-c "$runtime/turnserver.conf" --pidfile= --userdb="$runtime/turndb")
if [[ -n ${TURN_EXTERNAL_IP:-} ]]; then
    coturn_args+=(--external-ip="$TURN_EXTERNAL_IP")
fi

turnserver "${coturn_args[@]}" &
coturn=$!
parlor-signal --turn-secret-file "$secret_file" "$@" &
signal=$!

stopping=false
stop() {
    kill -TERM "$coturn" "$signal" 2>/dev/null
}
trap 'stopping=true; stop' TERM INT

# Returns when either ends, or early when a signal ran the trap.
wait -n "$coturn" "$signal"
stop
wait "$signal"
status=$?
wait "$coturn"
if $stopping; then
    exit "$status"
fi
echo "entrypoint: coturn or parlor-signal ended on its own; stopped the other" >&2
exit 1
