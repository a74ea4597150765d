#!/usr/bin/env bash
# Creates the databases of the services that own one (intake, reporting), each owned by its own
# login role, so that no service can read another's tables. The postgres image runs this once,
# when the data volume is empty; passwords come from INTAKE_DB_PASSWORD and REPORTING_DB_PASSWORD.
set -euo pipefail

create_database() {
    local name="$1" password="$2"
    # psql variables (:'pw', :"name") quote the values, so a password may hold any character.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$name" -v pw="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pw';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    # PostgreSQL 15+ no longer lets every role create in the public schema; give it to the owner.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$name" \
        -v name="$name" <<'SQL'
ALTER SCHEMA public OWNER TO :"name";
SQL
}

create_database intake "${INTAKE_DB_PASSWORD:?INTAKE_DB_PASSWORD is not set}"
create_database reporting "${REPORTING_DB_PASSWORD:?REPORTING_DB_PASSWORD is not set}"
