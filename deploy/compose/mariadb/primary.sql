-- The primary: a replication user and the checker's monitoring user (MariaDB 10.11 privileges).
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'replpw';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
CREATE USER IF NOT EXISTS 'monitor'@'%' IDENTIFIED BY 'monitorpw';
GRANT SLAVE MONITOR, REPLICATION MASTER ADMIN, PROCESS ON *.* TO 'monitor'@'%';
