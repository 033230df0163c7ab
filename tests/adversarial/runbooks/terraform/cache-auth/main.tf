# A cache tier's auth settings modelled with terraform_data, so it plans and applies with no provider download. The
# auth token is a sensitive variable, and the connection string built from it a sensitive output: Terraform keeps
# both in plain text in its state and plan files, which is what the change record must not.
terraform {
  required_version = ">= 1.4"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "auth_token" {
  type      = string
  sensitive = true
}

resource "terraform_data" "cache" {
  count = var.replicas
  input = {
    name       = "cache-${count.index}"
    auth_token = var.auth_token
  }
}

output "replicas" {
  value = length(terraform_data.cache)
}

output "connection" {
  value     = "rediss://default:${var.auth_token}@cache.cache.svc:6380/0"
  sensitive = true
}

output "auth_token" {
  value     = var.auth_token
  sensitive = true
}
