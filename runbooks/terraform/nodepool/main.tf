# A node pool modelled with terraform_data so it plans and applies anywhere, with no provider download.
# In a real estate this is the cloud provider's node pool resource; the runbook's guard is the same.
terraform {
  required_version = ">= 1.4"
}

variable "node_count" {
  type        = number
  description = "Number of nodes in the pool."
  default     = 3
}

variable "machine_type" {
  type    = string
  default = "standard-4"
}

resource "terraform_data" "node" {
  count = var.node_count
  input = {
    name         = "pool-node-${count.index}"
    machine_type = var.machine_type
  }
}

output "node_count" {
  value = length(terraform_data.node)
}

output "nodes" {
  value = [for n in terraform_data.node : n.output.name]
}
