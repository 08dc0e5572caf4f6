/** A team of users; members hold the group's roles (DESIGN.md "RBAC"). */
export interface Group {
  id: string;
  name: string;
  description: string | null;
  roles: string[];
  memberCount: number;
  createdAt: Date;
  updatedAt: Date;
}
