DROP TABLE alert_attempts;
DROP TABLE alert_deliveries;
DROP TABLE alert_events;
DROP TABLE alert_rules;
DROP TABLE logger_upload_hours;
DROP TABLE logger_uploads;
