package terraform_plan_cost

default allow := false

monthly := to_number(input.cost.total_monthly_cost)

allow if monthly <= data.config.monthly_budget

deny[msg] {
  not allow
  msg := sprintf("monthly cost %.2f exceeds the budget %v", [monthly, data.config.monthly_budget])
}

over_by := round((monthly - data.config.monthly_budget) * 100) / 100
