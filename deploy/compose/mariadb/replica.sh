#!/bin/sh
# A replica: follow the primary with GTID once both are up.
set -e
until mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" -h mariadb-primary -e 'SELECT 1' >/dev/null 2>&1; do sleep 1; done
mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" -e "CHANGE MASTER TO MASTER_HOST='mariadb-primary', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='replpw', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;"
