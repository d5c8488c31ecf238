-- The policy evaluation of a stored plan or state: the evaluation's id in policy_evaluations
-- (0: none applied), its status and its pre-rendered message.
ALTER TABLE workspace_data ADD COLUMN policy_evaluation_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspace_data ADD COLUMN policy_status TEXT NOT NULL DEFAULT '';
ALTER TABLE workspace_data ADD COLUMN policy_message TEXT NOT NULL DEFAULT '';
