"""Tenant scope discovery on hand-made catalogs: pure, no database."""

from tenant_backup_gui.core.config import Config, ParentLink, parse_config
from tenant_backup_gui.core.errors import ConfigError
from tenant_backup_gui.core.scope import Catalog, Column, ForeignKey, Table, discover_scope

import pytest


def table(name, *cols, pk=("id",), fks=(), nullable=()):
    columns = tuple(Column(c, "uuid", nullable=c in nullable) for c in ("id",) + cols)
    return Table("public", name, columns, pk, (), tuple(ForeignKey((c,), ref, ("id",)) for c, ref in fks))


def catalog(*tables):
    return Catalog({t.key_name: t for t in tables})


CAT = catalog(
    table("organizations", "name"),
    table("customers", "organization_id"),
    table("rental_invoices", "organization_id", "customer_id", fks=[("customer_id", "customers")]),
    table("invoice_line_items", "invoice_id", fks=[("invoice_id", "rental_invoices")]),
    table("line_item_adjustments", "line_item_id", fks=[("line_item_id", "invoice_line_items")]),
    table("currencies", "code"),
    table("backup_logs", "organization_id"),
    table("undeclared_child", "ticket_ref"),
)


def test_fk_only_children_are_found_to_any_depth():
    scope = discover_scope(CAT, Config())
    names = scope.names()
    assert {"organizations", "customers", "rental_invoices", "invoice_line_items", "line_item_adjustments"} <= set(names)
    adj = scope.get("line_item_adjustments")
    assert [h.parent for h in adj.path] == ["invoice_line_items", "rental_invoices"]
    assert adj.anchor == "organization_id"
    # parents come before children, so a restore can insert in this order
    assert names.index("rental_invoices") < names.index("invoice_line_items") < names.index("line_item_adjustments")


def test_tool_tables_and_global_tables_are_never_tenant_data():
    scope = discover_scope(CAT, Config())
    assert "backup_logs" not in scope.names()
    assert "currencies" not in scope.names() and "currencies" in scope.global_tables


def test_missing_expected_table_is_a_warning_not_a_failure():
    scope = discover_scope(CAT, Config())
    assert any("'user_invites'" in w and "does not exist" in w for w in scope.warnings)


def test_config_parent_path_exclude_and_global():
    cfg = Config(parent_links=(ParentLink("undeclared_child", ("ticket_ref",), "customers", ("id",)),),
                 exclude=("rental_invoices",), global_tables=("customers",), expected_tables=())
    scope = discover_scope(CAT, cfg)
    names = scope.names()
    assert "rental_invoices" not in names and scope.skipped["rental_invoices"] == "excluded in config"
    assert "customers" not in names and "undeclared_child" not in names  # its parent is global now
    cfg = Config(parent_links=(ParentLink("undeclared_child", ("ticket_ref",), "customers", ("id",)),),
                 expected_tables=())
    assert discover_scope(CAT, cfg).get("undeclared_child").path[0].parent == "customers"


def test_nullable_link_is_warned_about():
    cat = catalog(table("organizations"), table("tickets", "organization_id"),
                  table("messages", "ticket_id", fks=[("ticket_id", "tickets")], nullable=("ticket_id",)))
    scope = discover_scope(cat, Config(expected_tables=()))
    assert any("messages" in w and "nullable" in w for w in scope.warnings)


def test_include_limits_the_scope_but_keeps_the_tenant_table():
    scope = discover_scope(CAT, Config(include=("customers",), expected_tables=()))
    assert sorted(scope.names()) == ["customers", "organizations"]


@pytest.mark.parametrize("doc, words", [
    ({"exclud": ["a"]}, "unknown key 'exclud'"),
    ({"exclude": "a"}, "must be a list"),
    ({"retention": {"days": 0}}, "retention"),
    ({"parent_paths": {"x": {"parent": "y"}}}, "needs column and parent"),
])
def test_config_mistakes_name_the_key(doc, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(doc)
