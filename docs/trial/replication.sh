#!/bin/sh
# Run once by the postgres image when the primary's data directory is created: let the
# replica's pg_basebackup and WAL stream connect with the datahub role's password.
set -e
echo "host replication datahub all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "ALTER ROLE $POSTGRES_USER WITH REPLICATION"
