// @generated automatically by Diesel CLI.

diesel::table! {
    audit_logs (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        actor_kind -> Text,
        actor_user_id -> Nullable<Int8>,
        actor_label -> Text,
        action -> Text,
        module -> Text,
        entity_id -> Nullable<Text>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    departments (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        email -> Text,
        ip -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (key_hash) {
        key_hash -> Text,
        workspace_id -> Nullable<Int8>,
        user_id -> Nullable<Int8>,
        state -> Jsonb,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    user_departments (workspace_id, user_id, department_id) {
        workspace_id -> Int8,
        user_id -> Int8,
        department_id -> Int8,
    }
}

diesel::table! {
    users (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Int8,
        name -> Text,
        webhook_key -> Text,
        time_zone -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(audit_logs -> workspaces (workspace_id));
diesel::joinable!(departments -> workspaces (workspace_id));
diesel::joinable!(users -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_logs,
    departments,
    login_failures,
    sessions,
    user_departments,
    users,
    workspaces,
);
