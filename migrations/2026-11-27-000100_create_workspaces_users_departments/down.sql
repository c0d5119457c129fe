DROP TABLE user_departments;
DROP TABLE departments;
DROP TABLE users;
DROP TABLE workspaces;
