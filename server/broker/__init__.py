"""The broker's side of access: per-device MQTT accounts, Mosquitto password/ACL/conf files, and the
drop counter the broker publishes under ``$SYS``. See docs/security.md."""
