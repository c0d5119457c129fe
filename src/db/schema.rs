// @generated automatically by Diesel CLI.

diesel::table! {
    auth_tokens (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        user_id -> Int8,
        purpose -> Text,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        new_email -> Nullable<Text>,
    }
}

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
        client_id -> Nullable<Int8>,
        subject_user_id -> Nullable<Int8>,
    }
}

diesel::table! {
    client_counts (workspace_id, assigned_to, status) {
        workspace_id -> Int8,
        assigned_to -> Int8,
        status -> Text,
        n -> Int8,
    }
}

diesel::table! {
    client_departments (workspace_id, client_id, department_id) {
        workspace_id -> Int8,
        client_id -> Int8,
        department_id -> Int8,
    }
}

diesel::table! {
    client_tags (workspace_id, client_id, tag_id) {
        workspace_id -> Int8,
        client_id -> Int8,
        tag_id -> Int8,
    }
}

diesel::table! {
    clients (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        company -> Nullable<Text>,
        status -> Text,
        status_source -> Text,
        status_changed_at -> Timestamptz,
        assigned_to -> Nullable<Int8>,
        notes -> Text,
        opt_out_whatsapp_at -> Nullable<Timestamptz>,
        opt_out_whatsapp_source -> Nullable<Text>,
        opt_out_sms_at -> Nullable<Timestamptz>,
        opt_out_sms_source -> Nullable<Text>,
        opt_out_email_at -> Nullable<Timestamptz>,
        opt_out_email_source -> Nullable<Text>,
        last_contacted_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        search -> Nullable<Text>,
        sort_name -> Nullable<Text>,
        import_id -> Nullable<Int8>,
        source -> Text,
        phone_formatted -> Nullable<Text>,
        tag_ids -> Nullable<Array<Int8>>,
    }
}

diesel::table! {
    communications (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        client_id -> Int8,
        user_id -> Nullable<Int8>,
        kind -> Text,
        occurred_at -> Timestamptz,
        notes -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    communication_counts (workspace_id, hour) {
        workspace_id -> Int8,
        hour -> Timestamptz,
        n -> Int8,
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
    follow_up_counts (workspace_id, grain, bucket, assigned_to) {
        workspace_id -> Int8,
        grain -> Int2,
        bucket -> Timestamptz,
        assigned_to -> Int8,
        n -> Int8,
    }
}

diesel::table! {
    follow_ups (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        client_id -> Int8,
        assigned_to -> Int8,
        created_by -> Nullable<Int8>,
        due_at -> Timestamptz,
        notes -> Text,
        status -> Text,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import_chunks (workspace_id, import_id, seq) {
        workspace_id -> Int8,
        import_id -> Int8,
        seq -> Int4,
        data -> Bytea,
    }
}

diesel::table! {
    import_errors (workspace_id, import_id, row_number) {
        workspace_id -> Int8,
        import_id -> Int8,
        row_number -> Int8,
        problems -> Jsonb,
        raw -> Jsonb,
    }
}

diesel::table! {
    imports (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        user_id -> Int8,
        filename -> Text,
        size_bytes -> Int8,
        line_count -> Int8,
        status -> Text,
        phase -> Text,
        encoding -> Text,
        delimiter -> Text,
        headers -> Jsonb,
        settings -> Nullable<Jsonb>,
        rows_read -> Int8,
        rows_created -> Int8,
        rows_updated -> Int8,
        rows_unchanged -> Int8,
        rows_skipped -> Int8,
        rows_rejected -> Int8,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        writing_started_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jobs (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        status -> Text,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        last_error -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
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
    notifications (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        user_id -> Int8,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        read_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    rate_events (id) {
        id -> Int8,
        bucket -> Text,
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
        id -> Int8,
    }
}

diesel::table! {
    smtp_settings (workspace_id) {
        workspace_id -> Int8,
        host -> Text,
        port -> Int4,
        tls_mode -> Text,
        username -> Nullable<Text>,
        password_sealed -> Nullable<Bytea>,
        from_address -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tags (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
        colour -> Text,
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
        chat_enter_sends -> Bool,
    }
}

diesel::table! {
    early_status_callbacks (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        provider_id -> Text,
        status -> Text,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    media (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        message_id -> Int8,
        position -> Int2,
        provider_url -> Text,
        declared_type -> Nullable<Text>,
        content_type -> Nullable<Text>,
        filename -> Nullable<Text>,
        size_bytes -> Nullable<Int8>,
        status -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        stored_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    media_chunks (workspace_id, media_id, seq) {
        workspace_id -> Int8,
        media_id -> Int8,
        seq -> Int4,
        data -> Bytea,
    }
}

diesel::table! {
    messages (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        client_id -> Nullable<Int8>,
        channel -> Text,
        direction -> Text,
        provider_id -> Nullable<Text>,
        sender -> Text,
        recipient -> Text,
        body -> Text,
        template_id -> Nullable<Int8>,
        variables -> Jsonb,
        button_payload -> Nullable<Text>,
        status -> Text,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        attempt_at -> Nullable<Timestamptz>,
        sent_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        read_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        batch_id -> Nullable<Int8>,
        send_attempts -> Int4,
        retry_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    message_resends (workspace_id, message_id) {
        workspace_id -> Int8,
        message_id -> Int8,
        new_message_id -> Int8,
        resent_by -> Nullable<Int8>,
        resent_at -> Timestamptz,
    }
}

diesel::table! {
    send_throttles (workspace_id, sender) {
        workspace_id -> Int8,
        sender -> Text,
        tat -> Timestamptz,
    }
}

diesel::table! {
    twilio_settings (workspace_id) {
        workspace_id -> Int8,
        account_sid -> Text,
        auth_token_sealed -> Bytea,
        whatsapp_from -> Array<Text>,
        sms_from -> Nullable<Text>,
        messaging_service_sid -> Nullable<Text>,
        whatsapp_rate -> Float8,
        sms_rate -> Float8,
        inbound_unknown -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    whatsapp_templates (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        provider_id -> Text,
        name -> Text,
        language -> Text,
        body -> Text,
        variables -> Jsonb,
        media -> Array<Text>,
        buttons -> Jsonb,
        approval_status -> Text,
        category -> Text,
        rejection_reason -> Text,
        synced_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_batch_counts (workspace_id, batch_id, key) {
        workspace_id -> Int8,
        batch_id -> Int8,
        key -> Text,
        n -> Int8,
    }
}

diesel::table! {
    campaign_batches (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        campaign_id -> Int8,
        channel -> Text,
        mode -> Text,
        template_id -> Nullable<Int8>,
        flow_id -> Nullable<Int8>,
        flow_snapshot -> Nullable<Jsonb>,
        variables -> Jsonb,
        subject -> Nullable<Text>,
        body -> Text,
        html_body -> Nullable<Text>,
        sender -> Nullable<Text>,
        send_at -> Timestamptz,
        status -> Text,
        retarget_of -> Nullable<Int8>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        stall_resumes -> Int4,
        stall_note -> Nullable<Text>,
    }
}

diesel::table! {
    campaign_clients (workspace_id, campaign_id, client_id) {
        workspace_id -> Int8,
        campaign_id -> Int8,
        client_id -> Int8,
        attached_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_departments (workspace_id, campaign_id, department_id) {
        workspace_id -> Int8,
        campaign_id -> Int8,
        department_id -> Int8,
    }
}

diesel::table! {
    campaign_hourly_counts (workspace_id, campaign_id, hour, key) {
        workspace_id -> Int8,
        hour -> Timestamptz,
        key -> Text,
        n -> Int8,
        campaign_id -> Int8,
    }
}

diesel::table! {
    campaign_recipients (workspace_id, batch_id, client_id) {
        workspace_id -> Int8,
        batch_id -> Int8,
        client_id -> Int8,
        status -> Text,
        skip_reason -> Nullable<Text>,
        message_id -> Nullable<Int8>,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        reply -> Nullable<Text>,
        flow_step -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        name -> Text,
        channels -> Array<Text>,
        whatsapp_from -> Nullable<Text>,
        status -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    whatsapp_flows (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        name -> Text,
        steps -> Jsonb,
        created_by -> Nullable<Int8>,
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
        default_country -> Text,
        daily_jobs_at -> Time,
        hand_status_days -> Int4,
    }
}

diesel::table! {
    chat_digests (workspace_id, user_id) {
        workspace_id -> Int8,
        user_id -> Int8,
        since -> Timestamptz,
    }
}

diesel::table! {
    chats (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        client_id -> Int8,
        channel -> Text,
        status -> Text,
        assignee_id -> Nullable<Int8>,
        last_message_id -> Nullable<Int8>,
        last_message_at -> Timestamptz,
        last_inbound_at -> Nullable<Timestamptz>,
        inbound_count -> Int8,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    chat_reads (workspace_id, chat_id, user_id) {
        workspace_id -> Int8,
        chat_id -> Int8,
        user_id -> Int8,
        read_count -> Int8,
        read_at -> Timestamptz,
    }
}

diesel::table! {
    events (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        kind -> Text,
        client_id -> Nullable<Int8>,
        chat_id -> Nullable<Int8>,
        user_id -> Nullable<Int8>,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(audit_logs -> workspaces (workspace_id));
diesel::joinable!(clients -> workspaces (workspace_id));
diesel::joinable!(departments -> workspaces (workspace_id));
diesel::joinable!(tags -> workspaces (workspace_id));
diesel::joinable!(users -> workspaces (workspace_id));

diesel::table! {
    notification_mutes (workspace_id, user_id, kind) {
        workspace_id -> Int8,
        user_id -> Int8,
        kind -> Text,
    }
}

diesel::table! {
    canned_replies (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        owner_id -> Nullable<Int8>,
        title -> Text,
        shortcut -> Text,
        body -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    chat_notes (workspace_id, id) {
        workspace_id -> Int8,
        id -> Int8,
        chat_id -> Int8,
        author_id -> Nullable<Int8>,
        body -> Text,
        mentions -> Array<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    audit_logs,
    auth_tokens,
    campaign_batch_counts,
    campaign_batches,
    campaign_clients,
    campaign_departments,
    campaign_hourly_counts,
    campaign_recipients,
    campaigns,
    canned_replies,
    chat_digests,
    chat_notes,
    chat_reads,
    chats,
    client_counts,
    client_departments,
    client_tags,
    clients,
    communication_counts,
    communications,
    departments,
    early_status_callbacks,
    events,
    follow_up_counts,
    follow_ups,
    import_chunks,
    import_errors,
    imports,
    jobs,
    login_failures,
    media,
    media_chunks,
    message_resends,
    messages,
    notifications,
    rate_events,
    send_throttles,
    sessions,
    smtp_settings,
    tags,
    twilio_settings,
    user_departments,
    users,
    whatsapp_flows,
    whatsapp_templates,
    workspaces,
);
