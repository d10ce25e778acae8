DROP TABLE logger_firmware;
DROP TABLE firmware;
DROP TABLE upload_receipts;
DROP TABLE device_enrolments;
